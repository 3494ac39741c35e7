"""MBI Explorer core: memorization-based inference of a recurrent attention model.

The package never imports streamlit; the dashboard (``app.py``, ``dashboard/``) and the
command line (``python -m mbi``) are thin layers over these modules. The public API, in the
order the data flows:

* :class:`RAMConfig`, :class:`TrainConfig`, :class:`TreeConfig`: every knob, validated;
* :class:`Checkpoint` (a trained RAM: config, model, hash, metrics, table) and its
  :class:`LookupSettings` (``lookup.json``: weights, threshold, table recipe, accuracies);
* :class:`LookupTable` and :func:`distill`: the RAM memorized step by step;
* :class:`StepIndex`, :func:`lookup_infer`, :func:`evaluate_lookup`: lookup-only MBI;
  :func:`mixed_curve`, :func:`choose_threshold`: mixed MBI (Fig. 5);
* :func:`run_bo`: the metric search of the weights a, b, c (:func:`normalize`, :func:`parse_weights`).

``import mbi`` stays cheap: each name is imported (with torch, where it needs it) on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "RAMConfig": "mbi.config", "TrainConfig": "mbi.config", "TreeConfig": "mbi.config", "RunConfig": "mbi.config",
    "Checkpoint": "mbi.model.checkpoint", "LookupSettings": "mbi.model.checkpoint",
    "LookupTable": "mbi.memory.lut", "distill": "mbi.memory.lut", "TableRecipe": "mbi.memory.recipe",
    "StepIndex": "mbi.inference.lookup", "lookup_infer": "mbi.inference.lookup",
    "evaluate_lookup": "mbi.inference.lookup",
    "mixed_curve": "mbi.inference.mixed", "choose_threshold": "mbi.inference.mixed",
    "run_bo": "mbi.inference.bo",
    "normalize": "mbi.search.weights", "parse_weights": "mbi.search.weights",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'mbi' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
