"""Behavioural model of the 10T SRAM in-memory search array (paper Sec. III-D, Fig. 6).

The modules follow the circuit: :mod:`.device` (read-port transistors, bit-line discharge, V_TH
variation, :class:`SRAMConfig`), :mod:`.encoding` (element encodings, column weights, key parts,
array layout), :mod:`.levels` (ADC levels, Monte Carlo level statistics) and :mod:`.circuit`
(a table stored in the arrays, circuit vs ideal distances, comparison with eq. (1)). Every name
callers use is importable from ``mbi.hardware.sram`` itself.
"""

from mbi.hardware.sram.circuit import (CircuitTable, EncodingComparison, circuit_distances, compare_with_eq1,
                                       ideal_distances, synthetic_table)
from mbi.hardware.sram.device import (I_ON_REFERENCE_LENGTH_NM, THERMAL_VOLTAGE_V, SRAMConfig, cell_drop_v,
                                      check_integer, check_number, device_drive, discharge, nominal_discharge_v,
                                      stack_drive)
from mbi.hardware.sram.encoding import (ENCODINGS, ArrayLayout, Encoding, KeyPart, build_layout,
                                        element_column_weights, element_distance_table, encode_elements,
                                        key_parts_from_layout, key_parts_from_ram)
from mbi.hardware.sram.levels import (MONTE_CARLO_BUDGETS, PAPER_MIN_GAP_V, LevelStats, adc_level_codes,
                                      adc_level_values, characterization_weights, level_statistics,
                                      monte_carlo_trials, sample_patterns)

__all__ = [
    "ENCODINGS", "I_ON_REFERENCE_LENGTH_NM", "MONTE_CARLO_BUDGETS", "PAPER_MIN_GAP_V", "THERMAL_VOLTAGE_V", "ArrayLayout", "CircuitTable",
    "Encoding", "EncodingComparison", "KeyPart", "LevelStats", "SRAMConfig", "adc_level_codes", "adc_level_values",
    "build_layout", "cell_drop_v", "characterization_weights", "check_integer", "check_number", "circuit_distances",
    "compare_with_eq1", "device_drive", "discharge", "element_column_weights", "element_distance_table",
    "encode_elements", "ideal_distances", "key_parts_from_layout", "key_parts_from_ram", "level_statistics",
    "monte_carlo_trials", "nominal_discharge_v", "sample_patterns", "stack_drive", "synthetic_table",
]
