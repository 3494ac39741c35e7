"""``reproduce``: every figure of the paper as queued work items in one Optuna study, then one report.

A reproduction is a *profile* (:mod:`.profiles`: ``tiny`` for tests, ``quick`` for CI, ``full`` for
the real run). :mod:`.items` turns it into work items and runs them; :mod:`.study` enqueues them
once in an Optuna study that any number of workers pop from, and collects the finished results;
:mod:`.report` writes ``report.html``, ``summary.md`` and ``results.json``; :mod:`.export` renders
the report's figures to PNG.
"""

from mbi.runs.reproduce.export import export_images
from mbi.runs.reproduce.items import make_objective, work_items
from mbi.runs.reproduce.profiles import FIGURES, PAPER, PROFILES, profile, sweep_spec
from mbi.runs.reproduce.report import build_report, figure_sections
from mbi.runs.reproduce.study import collect, open_reproduction, start, study_name, work

__all__ = [
    "FIGURES", "PAPER", "PROFILES", "build_report", "collect", "export_images", "figure_sections", "make_objective",
    "open_reproduction", "profile", "start", "study_name", "sweep_spec", "work", "work_items",
]
