"""The figures' colours, in one place: the Okabe-Ito palette, which stays distinguishable for the common
colour-vision deficiencies (Okabe & Ito, *Color Universal Design*, 2008; Wong, Nature Methods 8, 441, 2011).

Every figure builder takes its colours from here; ``tests/test_palette.py`` checks that the roles stay
apart under simulated protanopia, deuteranopia and tritanopia, and that no builder hard-codes another.
"""

from __future__ import annotations

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
"""The eight colours of the Okabe-Ito palette by name."""

NEUTRAL_GREY = "#999999"
"""Reference lines and the paper's numbers: a grey that reads on light and dark backgrounds."""

OURS_COLOR = OKABE_ITO["blue"]
"""This project's results (and the RAM's path)."""
PAPER_COLOR = NEUTRAL_GREY
"""The paper's and the authors' numbers, reference lines."""
ACCENT_COLOR = OKABE_ITO["vermillion"]
"""What to look at: the glimpse squares, the current choice, values over a threshold."""
LOOKUP_COLOR = OKABE_ITO["orange"]
"""The lookup's path beside the RAM's."""
GOOD_COLOR = OKABE_ITO["bluish green"]
"""A margin that holds (e.g. the eye between two voltage levels)."""
HIGHLIGHT_COLOR = OKABE_ITO["yellow"]
"""An outline around the selected item."""

COLORWAY = [OKABE_ITO[name] for name in ("blue", "orange", "bluish green", "vermillion", "reddish purple",
                                         "sky blue", "yellow", "black")]
"""The order of colours for series without a colour of their own."""

ROLES = {"ours": OURS_COLOR, "paper": PAPER_COLOR, "accent": ACCENT_COLOR, "lookup": LOOKUP_COLOR,
         "good": GOOD_COLOR, "highlight": HIGHLIGHT_COLOR}
"""Every colour role the figures use (what the palette test checks)."""

__all__ = ["ACCENT_COLOR", "COLORWAY", "GOOD_COLOR", "HIGHLIGHT_COLOR", "LOOKUP_COLOR", "NEUTRAL_GREY", "OKABE_ITO",
           "OURS_COLOR", "PAPER_COLOR", "ROLES"]
