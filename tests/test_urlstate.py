"""URL settings: hand-edited query strings always give valid values and a short message, never an exception."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbi.urlstate import MAX_RAW_LENGTH, Param, check, encode, parse, parse_value

IMAGE = Param("image", 0, "int", lo=0, hi=9999, label="test image")
SIGMA = Param("sigma", 60.0, "float", lo=0.0, hi=120.0, step=5.0, label="sigma_VTH (mV)")
BITS = Param("bits", 5, "choice", choices=(3, 4, 5, 6, 8))
PBITS = Param("pbits", 2, "choice", choices=(1, 2, 4, None))
FLAG = Param("play", False, "bool")
PARAMS = [IMAGE, SIGMA, BITS, PBITS, FLAG]


def test_valid_values_parse_silently():
    values, messages = parse(PARAMS, {"image": "42", "sigma": "35", "bits": "8", "pbits": "none", "play": "true"})
    assert values == {"image": 42, "sigma": 35.0, "bits": 8, "pbits": None, "play": True}
    assert messages == []


def test_missing_keys_take_defaults_and_unknown_keys_are_ignored():
    values, messages = parse(PARAMS, {"model": "default", "other": "x"})
    assert values == {p.name: p.default for p in PARAMS}
    assert messages == []


@pytest.mark.parametrize("raw, expected, fragment", [
    ("abc", 0, "must be a number"),
    ("nan", 0, "must be a number"),
    ("inf", 0, "must be a number"),
    ("", 0, "must be a number"),
    ("-5", 0, "at least 0"),
    ("1e9", 9999, "at most 9999"),
    ("12.7", 13, "whole number"),
])
def test_bad_int_is_fixed_with_a_message(raw, expected, fragment):
    value, message = parse_value(IMAGE, raw)
    assert value == expected
    assert fragment in message and "test image" in message


def test_float_snaps_to_step_and_clamps():
    assert parse_value(SIGMA, "37") == (35.0, parse_value(SIGMA, "37")[1])
    assert "steps of 5" in parse_value(SIGMA, "37")[1]
    assert parse_value(SIGMA, "500")[0] == 120.0
    assert parse_value(SIGMA, "40")[1] is None


def test_choice_and_bool_fall_back_to_default():
    assert parse_value(BITS, "7") == (5, parse_value(BITS, "7")[1])
    assert "one of 3, 4, 5, 6, 8" in parse_value(BITS, "7")[1]
    assert parse_value(PBITS, "NONE") == (None, None)
    assert parse_value(FLAG, "maybe")[0] is False


def test_repeated_key_uses_last_value_and_long_values_are_refused():
    assert parse_value(IMAGE, ["3", "7"]) == (7, None)
    value, message = parse_value(IMAGE, "1" * (MAX_RAW_LENGTH + 1))
    assert value == 0 and "too long" in message


def test_encode_keeps_only_non_defaults_and_round_trips():
    values = {"image": 42, "sigma": 60.0, "bits": 8, "pbits": None, "play": False}
    query = encode(PARAMS, values)
    assert query == {"image": "42", "bits": "8", "pbits": "none"}
    assert parse(PARAMS, query) == (values, [])
    assert encode(PARAMS, {"image": -3}) == {}  # invalid values are not written


def test_param_definitions_are_checked():
    with pytest.raises(ValueError, match="default"):
        Param("x", 200, "int", lo=0, hi=100)
    with pytest.raises(ValueError, match="choices"):
        Param("x", 1, "choice")
    assert check(IMAGE, 3) is None and check(IMAGE, 3.5) is not None and check(IMAGE, True) is not None


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(st.text(max_size=80), st.lists(st.text(max_size=10), max_size=3)),
       param=st.sampled_from(PARAMS))
def test_any_text_gives_a_valid_value(raw, param):
    value, message = parse_value(param, raw)
    assert check(param, value) is None
    if isinstance(value, float):
        assert math.isfinite(value)
    assert message is None or len(message) < 200
