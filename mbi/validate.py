"""Checks of single values, shared by every config and function that takes a knob.

One style everywhere: the message names the value, says what it must be and what it got, e.g.
``num_glimpses = 0 is out of range: num_glimpses must be in [1, 32]``. A value of the wrong kind
raises :class:`WrongType`, which is both a ``TypeError`` and a ``ValueError`` (callers and tests
that catch either one see it).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Collection, Mapping, overload


class WrongType(TypeError, ValueError):
    """A value of the wrong kind (a float where an integer is needed, text where a number is)."""


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, numbers.Integral) else f"{value:g}"


def _rule(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_fmt(lo)}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {_fmt(hi)}"
    return "any value"


def _check_range(name: str, value: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool,
                 unit: str) -> None:
    below = lo is not None and (value < lo or (lo_open and value == lo))
    above = hi is not None and (value > hi or (hi_open and value == hi))
    if below or above:
        rule = _rule(lo, hi, lo_open, hi_open) + (f" {unit}" if unit else "")
        raise ValueError(f"{name} = {value!r} is out of range: {name} must be {rule}")


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``[lo, hi]`` (either bound optional); else an error naming ``name``.

    ``bool`` is refused (``True`` is not a count); numpy integers are accepted (they are ``numbers.Integral``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise WrongType(f"{name} must be an integer, got {value!r}")
    _check_range(name, int(value), lo, hi, False, False, "")
    return int(value)


def check_number(name: str, value: Any, lo: float | None = None, hi: float | None = None, unit: str = "", *,
                 lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the interval from ``lo`` to ``hi`` (open ends on request).

    ``unit`` is appended to the allowed range in the message (``"V"``, ``"mV"``, ``"nm"``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WrongType(f"{name} must be a finite number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    _check_range(name, float(value), lo, hi, lo_open, hi_open, unit)
    return float(value)


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``; else an error listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


@overload
def env_int(env: Mapping[str, str], name: str, default: int) -> int: ...
@overload
def env_int(env: Mapping[str, str], name: str, default: int | None) -> int | None: ...
def env_int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """The positive integer in environment variable ``name`` of ``env`` (``default`` when unset or blank);
    a ValueError naming the variable for anything else (``0``, ``-1``, ``many``)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"environment variable {name} must be a positive integer, got {raw!r}")
    return value


def env_switch(env: Mapping[str, str], name: str) -> bool:
    """Whether the on/off environment variable ``name`` of ``env`` is on: unset, blank, ``on``/``1``/``yes``/``true``
    are on, ``off``/``0``/``no``/``false`` (any case) are off; a ValueError naming the variable for anything else."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "on", "1", "yes", "true"):
        return True
    if raw in ("off", "0", "no", "false"):
        return False
    raise ValueError(f"environment variable {name} must be on or off, got {raw[:20]!r}")


__all__ = ["WrongType", "check_choice", "check_int", "check_number", "env_int", "env_switch"]
