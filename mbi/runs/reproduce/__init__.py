"""``reproduce``: every figure of the paper as queued work items (being split into modules)."""

from mbi.runs.reproduce.items import (FIGURES, PROFILES, build_report, collect, export_images,  # noqa: F401
                                      open_reproduction, profile, start, sweep_spec, work, work_items)
