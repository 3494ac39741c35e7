"""How keys sit in the arrays: element encodings (binary, thermometer), column weights, key parts and layout.

An element with p-bit binary code uses p columns, LSB first; column j is precharged to
``V_P,max / 2**(p-j-1)`` (paper Fig. 6(a)). Thermometer code uses ``levels - 1`` columns of
weight 1, all precharged to ``V_P,max``, and makes the array compute eq. (1)'s Manhattan distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from mbi.config import RAMConfig
from mbi.hardware.sram.device import check_integer
from mbi.search.distance import KeyLayout

Encoding = Literal["binary", "thermometer"]
ENCODINGS: tuple[str, ...] = ("binary", "thermometer")




def element_column_weights(levels: int, encoding: Encoding) -> np.ndarray:
    """Distance weight of each column of one element (LSB first), in units of the least significant column.

    Binary: ``ceil(log2 levels)`` columns of weight ``2**j`` (precharged to ``V_P,max / 2**(p-j-1)``).
    Thermometer: ``levels - 1`` columns of weight 1, all precharged to ``V_P,max``.
    """
    _check_encoding(encoding)
    if encoding == "binary":
        return 2 ** np.arange(max(1, math.ceil(math.log2(levels))), dtype=np.int64)
    return np.ones(levels - 1, dtype=np.int64)


def encode_elements(values: np.ndarray, levels: int, encoding: Encoding) -> np.ndarray:
    """Column bits (uint8) of integer elements ``values[..., n]`` -> ``[..., n * columns_per_element]``."""
    values = np.asarray(values)
    n_cols = len(element_column_weights(levels, encoding))
    j = np.arange(n_cols)
    if encoding == "binary":
        bits = (values[..., None] >> j) & 1
    else:
        bits = values[..., None] > j
    return bits.astype(np.uint8).reshape(values.shape[:-1] + (values.shape[-1] * n_cols,))


def element_distance_table(levels: int, encoding: Encoding) -> np.ndarray:
    """``T[k, q]``: what one element's columns contribute for key level k and query level q (no variation).

    Binary gives ``k XOR q`` (e.g. 1 vs 2 -> 3, not |1 - 2| = 1); thermometer gives ``|k - q|``.
    """
    bits = encode_elements(np.arange(levels)[:, None], levels, encoding)
    weights = element_column_weights(levels, encoding)
    return (bits[:, None, :] != bits[None, :, :]) @ weights


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


@dataclass(frozen=True)
class KeyPart:
    """One component of a key: ``count`` elements, each an integer level in ``[0, levels)``."""

    name: str
    count: int
    levels: int

    def __post_init__(self) -> None:
        check_integer(f"KeyPart({self.name!r})", "count", self.count, 1, 1_000_000)
        check_integer(f"KeyPart({self.name!r})", "levels", self.levels, 2, 1 << 16)


def key_parts_from_layout(layout: KeyLayout) -> tuple[KeyPart, KeyPart, KeyPart]:
    """(patch, hidden, location) parts of keys laid out as :class:`mbi.search.distance.KeyLayout` describes."""
    return (KeyPart("patch", layout.patch_len, layout.patch_levels),
            KeyPart("hidden", layout.hidden_len, layout.hidden_levels),
            KeyPart("location", 2, layout.loc_levels))


def key_parts_from_ram(ram: RAMConfig | None = None) -> tuple[KeyPart, KeyPart, KeyPart]:
    """(patch, hidden, location) parts of a lookup key for a quantized RAM, in the order of weights (a, b, c).

    Patch: ``num_patches * patch_size**2`` elements of ``2**patch_bits`` levels; hidden: ``state_size``
    elements of ``2**hidden_bits`` levels; location: 2 grid indices in ``[0, loc_grid)``.
    """
    ram = ram or RAMConfig()
    if ram.patch_bits is None or ram.hidden_bits is None:
        raise ValueError("the SRAM stores quantized keys: patch_bits and hidden_bits must be integers, not None")
    return (KeyPart("patch", ram.patch_vector_len, 2**ram.patch_bits),
            KeyPart("hidden", ram.state_size, 2**ram.hidden_bits),
            KeyPart("location", 2, ram.loc_grid))


@dataclass(frozen=True, eq=False)
class ArrayLayout:
    """Where each key column lives: parts laid out one after another, each split over its own arrays.

    A part's columns fill ``ceil(part_columns / array_cols)`` arrays contiguously (an element may
    straddle two arrays); arrays never mix parts, because the digital weight is applied per array.
    """

    parts: tuple[KeyPart, ...]
    encoding: str
    array_cols: int
    column_weight: np.ndarray  # [C] distance weight of each key column
    column_precharge: np.ndarray  # [C] precharge as a fraction of V_P,max
    arrays: tuple[tuple[int, int, int], ...]  # (part index, first column, end column) per array

    @property
    def n_columns(self) -> int:
        """Columns one key occupies."""
        return len(self.column_weight)

    @property
    def n_arrays(self) -> int:
        """Arrays (splits) one key is spread over."""
        return len(self.arrays)

    def array_max_distance(self, a: int) -> int:
        """Largest distance array ``a`` can report (every column differs)."""
        _, start, stop = self.arrays[a]
        return int(self.column_weight[start:stop].sum())

    def encode(self, values: np.ndarray, what: str = "keys") -> np.ndarray:
        """Column bits [R, C] (uint8) of integer keys or queries [R, D], checked against each part's levels."""
        values = np.asarray(values)
        width = sum(p.count for p in self.parts)
        if values.ndim != 2 or values.shape[1] != width:
            raise ValueError(f"{what} must have shape [rows, {width}] (sum of the parts' element counts), "
                             f"got {values.shape}")
        if not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
            raise ValueError(f"{what} must be integer levels, got dtype {values.dtype}")
        pieces, start = [], 0
        for part in self.parts:
            block = values[:, start:start + part.count].astype(np.int64)
            bad = (block < 0) | (block >= part.levels)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise ValueError(f"{what}[{r}, {start + c}] = {block[r, c]} is outside part {part.name!r}'s "
                                 f"levels [0, {part.levels - 1}]")
            pieces.append(encode_elements(block, part.levels, self.encoding))
            start += part.count
        return np.concatenate(pieces, axis=1)


def build_layout(parts: Sequence[KeyPart], encoding: Encoding = "binary", array_cols: int = 32) -> ArrayLayout:
    """Lay a key of ``parts`` out on arrays ``array_cols`` wide (errors if an array is wider than the key)."""
    _check_encoding(encoding)
    check_integer("layout", "array_cols", array_cols, 1, 4096)
    parts = tuple(parts)
    if not parts:
        raise ValueError("a key needs at least one part")
    weights, precharge, arrays, start = [], [], [], 0
    for index, part in enumerate(parts):
        w = element_column_weights(part.levels, encoding)
        weights.append(np.tile(w, part.count))
        precharge.append(np.tile(w / w.max(), part.count))
        n = part.count * len(w)
        arrays += [(index, s, min(s + array_cols, start + n)) for s in range(start, start + n, array_cols)]
        start += n
    if array_cols > start:
        raise ValueError(f"array_cols = {array_cols} is wider than the key, which needs only {start} columns "
                         f"in {encoding} encoding; use array_cols <= {start}")
    return ArrayLayout(parts, encoding, array_cols, np.concatenate(weights), np.concatenate(precharge), tuple(arrays))
