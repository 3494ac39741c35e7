"""The in-memory search hardware: the SRAM array model, its non-idealities and energy."""
