"""A small quantized RAM configuration shared by the lookup test suites (fast to run and distill)."""

from mbi.config import RAMConfig

TINY_RAM = RAMConfig(num_glimpses=3, hidden_size=32, state_size=16, glimpse_hidden=32, loc_hidden=16, glimpse_size=32,
                     loc_grid=7)
