"""A 3-minute class demo: five links, each opening a page with its view set up through the URL state.

Each :class:`DemoStep` names the page (its file and ``url_path`` in ``app.py``), the settings the
link sets (typed values, checked against the page's own declared ``Param`` list when the page opens,
as any link is) and one sentence on what to look at. A teacher clicks through them without preparing
anything; the test suite opens every link and checks that the page shows exactly these settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mbi import urlstate


@dataclass(frozen=True)
class DemoStep:
    """One stop of the demo: which page, with which settings, and what to look at there."""

    topic: str
    page: str  # the page's script, as app.py lists it
    url_path: str  # the page's url_path in app.py (the settings' prefix in session state)
    settings: dict[str, Any] = field(default_factory=dict)
    look_at: str = ""
    icon: str = "school"

    def query(self) -> dict[str, str]:
        """The link's query parameters (written as the page's URL state reads them)."""
        return {name: urlstate.text_of(value) for name, value in self.settings.items()}


STEPS = (
    DemoStep("The glimpses", "dashboard/pages/glimpse_paths.py", "glimpses", {"source": "test", "image": 3, "step": 2},
             "The squares are all the RAM reads at this glimpse: three small patches, coarsely quantized "
             "(the grey levels beside them), never the whole digit.", "visibility"),
    DemoStep("A matched row", "dashboard/pages/glimpse_paths.py", "glimpses", {"source": "test", "image": 3, "step": 4},
             "In the lookup path, compare the query's patches with the table row it matched: the distance says "
             "how close the memory is, and the small digit is the training image that row was first met on.",
             "table_rows"),
    DemoStep("The tree", "dashboard/pages/cluster_tree.py", "tree", {"step": 2, "view": "sunburst", "depth": 3},
             "Each ring splits one glimpse step's keys into clusters, so a query checks a few leaves instead of "
             "every key; click a node to see what its keys look like.", "account_tree"),
    DemoStep("The threshold", "dashboard/pages/mixed_mbi.py", "mixed", {"thr": 2.0},
             "At this strict threshold many digits fall back to the RAM; drag it right and watch the share "
             "answered by the table rise while accuracy barely moves.", "call_split"),
    DemoStep("The energy", "dashboard/pages/sram_energy.py", "hardware", {"match_from": "model"},
             "One inference costs glimpses x tree levels x keys per level x arrays per key x the energy of one "
             "in-memory match: compare the total with the paper's Table I.", "memory"),
)
"""The demo, in the order of the paper's pipeline."""


def render() -> None:
    """The five links with their sentences (nothing is loaded until a link is followed)."""
    import streamlit as st

    for i, step in enumerate(STEPS, start=1):
        st.page_link(step.page, label=f"{i}. {step.topic}", icon=f":material/{step.icon}:", query_params=step.query())
        st.caption(step.look_at)


__all__ = ["DemoStep", "STEPS", "render"]
