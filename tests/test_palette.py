"""The figures' colours (mbi/plots/palette.py) stay apart for colour-blind viewers, and no figure builder
hard-codes a colour of its own.

Colour-vision deficiencies are simulated with the matrices of Machado, Oliveira & Fernandes (IEEE TVCG
15(6), 2009, severity 1.0) applied to linear sRGB; two colours count as distinguishable when their CIE76
colour difference (Delta E in CIELAB, D65) is at least :data:`MIN_DELTA_E`.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from mbi.plots import palette

MIN_DELTA_E = 10.0
"""Clearly told apart at a glance (2.3 is "just noticeable"); the red and green of plotly's default
palette, which this project used before, are 7.3 apart for a deuteranope."""

MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
WHITE = SRGB_TO_XYZ @ np.ones(3)


def _linear(hex_color: str) -> np.ndarray:
    c = np.array([int(hex_color[i: i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    t = (SRGB_TO_XYZ @ np.clip(linear_rgb, 0, 1)) / WHITE
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _delta_e(a: str, b: str, vision: str | None) -> float:
    la, lb = _linear(a), _linear(b)
    if vision is not None:
        m = np.array(MACHADO[vision])
        la, lb = m @ la, m @ lb
    return float(np.linalg.norm(_lab(la) - _lab(lb)))


def test_the_colour_science_matches_known_values():
    assert _lab(_linear("#FFFFFF")) == pytest.approx([100, 0, 0], abs=1e-3)
    # protanopes and deuteranopes confuse pure red and green far more than normal vision does
    assert _delta_e("#FF0000", "#00FF00", "deuteranopia") < 0.5 * _delta_e("#FF0000", "#00FF00", None)
    # the palette this project used before (plotly's default red and green) fails the test below
    assert _delta_e("#d62728", "#2ca02c", "deuteranopia") < MIN_DELTA_E


@pytest.mark.parametrize("vision", [None, *MACHADO])
def test_every_pair_of_colour_roles_stays_apart(vision):
    for (a, ca), (b, cb) in itertools.combinations(palette.ROLES.items(), 2):
        assert _delta_e(ca, cb, vision) >= MIN_DELTA_E, (vision, a, b, _delta_e(ca, cb, vision))


def test_the_roles_are_okabe_ito_colours_or_the_neutral_grey():
    allowed = {c.upper() for c in palette.OKABE_ITO.values()} | {palette.NEUTRAL_GREY.upper()}
    assert {c.upper() for c in palette.ROLES.values()} <= allowed
    assert {c.upper() for c in palette.COLORWAY} <= allowed and len(set(palette.COLORWAY)) == len(palette.COLORWAY)


def test_no_figure_builder_hard_codes_a_colour():
    """Colours come from the palette: no hex colour and no hue name outside palette.py (greys allowed)."""
    hue = re.compile(r"""color\s*=\s*["'](red|green|blue|orange|purple|yellow|cyan|magenta)["']""")
    hexes = re.compile(r"#[0-9a-fA-F]{6}\b")
    folder = Path(palette.__file__).parent
    for path in sorted(folder.glob("*.py")):
        if path.name == "palette.py":
            continue
        text = path.read_text()
        assert not hexes.findall(text), (path.name, hexes.findall(text))
        assert not hue.findall(text), (path.name, hue.findall(text))
