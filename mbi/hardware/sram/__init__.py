"""The 10T SRAM in-memory search array (paper Sec. III-D, Fig. 6); see :mod:`mbi.hardware.sram.circuit`."""

from mbi.hardware.sram.circuit import *  # noqa: F401,F403
from mbi.hardware.sram.circuit import (PAPER_MIN_GAP_V, THERMAL_VOLTAGE_V, check_integer,  # noqa: F401
                                       check_number)
