"""How a table is distilled beyond its row budget (:class:`TableRecipe`), without loading anything.

A checkpoint's ``lookup.json`` records the recipe its lookups use (:class:`mbi.model.checkpoint.LookupSettings`);
:mod:`mbi.memory.lut` distills with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mbi.validate import check_choice

SHIFTS_1PX: tuple[tuple[int, int], ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))
"""The four one-pixel translations (down, up, right, left) of ``distill(shifts=...)``."""

SHIFTS_2PX: tuple[tuple[int, int], ...] = SHIFTS_1PX + ((2, 0), (-2, 0), (0, 2), (0, -2))
"""The one- and two-pixel translations in the four directions (8 replays besides the unshifted one)."""

SHIFT_CHOICES = {"none": (), "1px": SHIFTS_1PX, "2px": SHIFTS_2PX}
"""Shifted replays of a table recipe: none (the paper's table), 1 px (4 replays), 1 and 2 px (8 replays)."""
READOUT_CHOICES = ("ram", "label")


@dataclass(frozen=True)
class TableRecipe:
    """How a table is distilled beyond its row budget: extra shifted replays and what the readout stores.

    ``TableRecipe()`` is the paper's table (unshifted replays, the RAM's readout).
    """

    shifts: str = "none"  # "none", "1px" or "2px" (1 and 2 px; see SHIFT_CHOICES)
    readout: str = "ram"  # "ram" or "label"

    def __post_init__(self) -> None:
        check_choice("table shifts", self.shifts, sorted(SHIFT_CHOICES))
        check_choice("table readout", self.readout, READOUT_CHOICES)

    @classmethod
    def of(cls, checkpoint: str | Path | None) -> "TableRecipe":
        """The recipe a checkpoint's lookups use (its ``lookup.json``'s ``"table"`` entry, else the paper's)."""
        from mbi.model.checkpoint import LookupSettings, resolve_checkpoint

        return LookupSettings.read(resolve_checkpoint(checkpoint)).table

    @property
    def suffix(self) -> str:
        """File-name tag of the recipe ('' for the paper's table)."""
        return ("" if self.shifts == "none" else f"-shift{self.shifts}") + ("" if self.readout == "ram" else "-label")

    def to_dict(self) -> dict[str, str]:
        """Plain dict for JSON (``lookup.json``'s ``"table"`` entry)."""
        return {"shifts": self.shifts, "readout": self.readout}

    @classmethod
    def from_dict(cls, data: dict) -> "TableRecipe":
        """Build from ``{"shifts": ..., "readout": ...}`` (either optional), refusing other keys."""
        if not isinstance(data, dict):
            raise ValueError(f"a table recipe must be an object like {{\"shifts\": \"1px\"}}, got {data!r}")
        unknown = sorted(set(data) - {"shifts", "readout"})
        if unknown:
            raise ValueError(f"unknown table recipe field(s) {unknown}; valid fields: ['readout', 'shifts']")
        return cls(**data)


__all__ = ["READOUT_CHOICES", "SHIFTS_1PX", "SHIFTS_2PX", "SHIFT_CHOICES", "TableRecipe"]
