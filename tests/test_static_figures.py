"""The SVG figures of :mod:`mbi.plots.static` (the Overview's pipeline and glimpse paths, drawn with no JavaScript):
well-formed XML for any text, every stage present, and a digit's pixels and glimpse squares where they belong."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mbi.plots.palette import OURS_COLOR
from mbi.plots.static import NOT_XML, glimpse_path_svg, pipeline_svg
from tests.apptools import svg_pictures

SVG = "{http://www.w3.org/2000/svg}"


def _parsed_text(text: str) -> str:
    """What an XML parser reads back for ``text``: the characters XML cannot hold gone, line ends normalized
    (XML 1.0, section 2.11: CR LF and a lone CR become LF)."""
    return NOT_XML.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def _stage_texts(root: ET.Element) -> list[list[str]]:
    return [[span.text or "" for span in text.iter(f"{SVG}tspan")] for text in root.iter(f"{SVG}text")]


def test_pipeline_has_every_stage_in_order_filled_when_ready():
    stages = [dict(name="MNIST", detail="50k / 10k / 10k", ready=True),
              dict(name="Table", detail="distilled\nkey -> value", ready=False),
              dict(name="Hardware", detail="SRAM search,\nenergy", ready=True)]
    svg = pipeline_svg(stages, "The MBI pipeline")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title").text == "The MBI pipeline"
    assert root.get("aria-label") == "The MBI pipeline"
    assert _stage_texts(root) == [["MNIST", "50k / 10k / 10k"], ["Table", "distilled", "key -> value", "not yet"],
                                  ["Hardware", "SRAM search,", "energy"]]
    boxes = root.findall(f"{SVG}rect")
    assert [b.get("fill") for b in boxes] == [OURS_COLOR, "none", OURS_COLOR]
    xs = [float(b.get("x")) for b in boxes]
    assert xs == sorted(xs) and len(set(xs)) == 3  # left to right, apart
    assert len(root.findall(f"{SVG}polygon")) == 2  # an arrowhead between each two stages
    assert "&lt;" not in svg and "key -&gt; value" in svg  # the arrow in the text is escaped
    assert float(root.get("width")) == 3 * 136 + 2 * 40 + 2 * 4  # BOX_W, GAP, PAD


def test_pipeline_escapes_markup_in_names():
    svg = pipeline_svg([dict(name='<script>alert("x")</script>', detail="a & b", ready=True)], 'say "hi" & <b>')
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}script") is None and "<script>" not in svg
    assert _stage_texts(root) == [['<script>alert("x")</script>', "a & b"]]
    assert root.get("aria-label") == 'say "hi" & <b>' and root.find(f"{SVG}title").text == 'say "hi" & <b>'


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12), st.booleans()), min_size=1, max_size=7),
       st.text(max_size=20))
def test_pipeline_is_well_formed_for_any_names(stages, title):
    svg = pipeline_svg([dict(name=n, detail=d, ready=r) for n, d, r in stages], title)
    root = ET.fromstring(svg)  # raises on ill-formed XML
    texts = _stage_texts(root)
    assert len(texts) == len(stages) and len(root.findall(f"{SVG}rect")) == len(stages)
    for (name, detail, ready), shown in zip(stages, texts):
        details = [line for line in detail.split("\n") if line]
        assert shown == [_parsed_text(s) for s in [name, *details]] + ([] if ready else ["not yet"])
    assert (root.find(f"{SVG}title").text or "") == _parsed_text(title)


def test_pipeline_keeps_text_that_xml_cannot_hold_out():
    root = ET.fromstring(pipeline_svg([dict(name="a\x00b\x1bc\ufffe", detail="", ready=True)], "t\x07"))
    assert _stage_texts(root) == [["abc"]] and root.find(f"{SVG}title").text == "t"


def test_glimpse_path_hand_checked():
    """A 4x4 digit, one glimpse at row 1, column 2, patches of 2 px at scales 1 and 2, 10 px per pixel: the
    2x2 square covers rows 0-1 and columns 1-2, the 4x4 one rows -1..2 and columns 0-3 (as the glimpse sensor
    reads them: ``centre - size // 2`` on), the path's point sits at the pixel's middle."""
    digit = np.array([[0, 0, 255, 0], [0, 128, 255, 0], [0, 0, 255, 1], [7, 0, 0, 0]], dtype=np.uint8)
    svg = glimpse_path_svg(digit, np.array([[1, 2]]), 2, [1, 2], "one glimpse", zoom=10)
    root = ET.fromstring(svg)
    assert (root.get("width"), root.get("height")) == ("40", "40")
    squares = [tuple(int(r.get(k)) for k in ("x", "y", "width", "height")) for r in root.findall(f"{SVG}rect")]
    assert squares == [(10, 0, 20, 20), (0, -10, 40, 40)]
    dot = root.find(f"{SVG}circle")
    assert (dot.get("cx"), dot.get("cy")) == ("25", "15")
    assert [t.text for t in root.findall(f"{SVG}text")] == ["1"]
    picture = root.find(f"{SVG}image")
    assert (picture.get("width"), picture.get("height")) == ("40", "40")
    [png] = svg_pictures(svg)
    assert png.dtype == np.uint8 and png.tolist() == [[255, 255, 0, 255], [255, 127, 0, 255], [255, 255, 0, 254],
                                                      [248, 255, 255, 255]]


def test_glimpse_path_pixels_equal_the_digit_and_the_path_is_in_order(mnist):
    digit = mnist.test_x[0]
    centres = np.array([[14, 14], [5, 20], [20, 3], [27, 27]])
    svg = glimpse_path_svg(digit, centres, 8, [1, 2, 4], "#0: label 7, RAM says 7 (correct)")
    root = ET.fromstring(svg)
    [png] = svg_pictures(svg)
    assert np.array_equal(255 - png, digit)  # every pixel, dark ink on white
    assert len(root.findall(f"{SVG}rect")) == 4 * 3
    points = [tuple(float(v) for v in p.split(",")) for p in root.find(f"{SVG}polyline").get("points").split()]
    assert points == [((c + 0.5) * 10, (r + 0.5) * 10) for r, c in centres]
    assert [t.text for t in root.findall(f"{SVG}text")] == ["1", "2", "3", "4"]
    assert root.find(f"{SVG}title").text == "#0: label 7, RAM says 7 (correct)"
