"""The eq. (1) weights owner (mbi.search.weights): checking, normalizing, parsing and the ratios b/a, c/a."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mbi.search.weights import (RATIO_DIGITS, RATIO_RANGE, check_weights, from_ratios, normalize, parse_weights,
                                part_weights, ratios_of)

positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
in_range = st.floats(min_value=RATIO_RANGE[0], max_value=RATIO_RANGE[1], allow_nan=False)


def test_parse_reads_three_numbers_and_refuses_the_rest():
    assert parse_weights("1,0.5,2") == (1.0, 0.5, 2.0)
    assert parse_weights(" 1 , 2 ,3 ") == (1.0, 2.0, 3.0)
    for bad in ("1,x,1", "1,2", "1,2,3,4", "", "1,,2"):
        with pytest.raises(ValueError, match="three comma-separated numbers"):
            parse_weights(bad)
    with pytest.raises(ValueError, match="weight b must be >= 0"):
        parse_weights("1,-1,1")
    with pytest.raises(ValueError, match="must not all be zero"):
        parse_weights("0,0,0")


@given(st.tuples(positive, positive, positive))
def test_parse_reads_what_repr_writes(w):
    assert parse_weights(",".join(repr(v) for v in w)) == w


@given(st.tuples(positive, positive, positive), st.floats(min_value=1e-3, max_value=1e3))
def test_normalize_sums_to_one_and_ignores_a_common_factor(w, scale):
    n = normalize(w)
    assert math.isclose(sum(n), 1.0, rel_tol=1e-12)
    assert all(math.isclose(x * sum(w), y, rel_tol=1e-9) for x, y in zip(n, w))
    assert normalize(tuple(scale * v for v in w)) == pytest.approx(n, rel=1e-12)


def test_normalize_hand_computed():
    assert normalize((2.0, 1.0, 1.0)) == (0.5, 0.25, 0.25)
    assert from_ratios(1.0, 2.0) == pytest.approx((0.25, 0.25, 0.5))


@given(st.tuples(positive, positive, positive))
def test_ratios_round_trip_through_the_weights(w):
    b_a, c_a = w[1] / w[0], w[2] / w[0]
    ratios = ratios_of(w)
    clip = lambda v: min(RATIO_RANGE[1], max(RATIO_RANGE[0], v))  # noqa: E731
    assert ratios == pytest.approx((clip(b_a), clip(c_a)), rel=10 ** (1 - RATIO_DIGITS))
    if RATIO_RANGE[0] <= b_a <= RATIO_RANGE[1] and RATIO_RANGE[0] <= c_a <= RATIO_RANGE[1]:
        assert from_ratios(*ratios) == pytest.approx(normalize(w), rel=10 ** (1 - RATIO_DIGITS))


@given(in_range, in_range)
def test_ratios_of_the_weights_of_link_ratios_are_those_ratios(b_a, c_a):
    link = tuple(float(f"{v:.{RATIO_DIGITS}g}") for v in (b_a, c_a))  # what a link can hold
    link = tuple(min(RATIO_RANGE[1], max(RATIO_RANGE[0], v)) for v in link)
    assert ratios_of(from_ratios(*link)) == link


def test_ratios_need_a_positive_a():
    with pytest.raises(ValueError, match="a = 0"):
        ratios_of((0.0, 1.0, 1.0))


def test_check_weights_passes_good_weights_through():
    assert check_weights([1, 2, 3]) == (1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="three numbers"):
        check_weights(None)  # type: ignore[arg-type]


def test_part_weights_normalize_any_number_of_parts():
    np.testing.assert_array_equal(part_weights(None, 4), np.full(4, 0.25))
    np.testing.assert_allclose(part_weights((2, 1, 1), 3), normalize((2, 1, 1)))
    with pytest.raises(ValueError, match="2 finite non-negative numbers"):
        part_weights((1, 1, 1), 2)
