"""Page settings in the URL: declare them once, parse hand-edited query strings safely.

A dashboard page lists its settings as :class:`Param` objects. :func:`parse`
turns a query-parameter mapping (what ``st.query_params`` holds: every value a
string, or a list of strings when a key repeats) into valid values plus short
messages for what had to be fixed; it never raises on user input. Numbers out
of range are clamped to the nearest allowed value, anything unreadable falls
back to the default. :func:`encode` does the reverse for the values that differ
from their defaults, so a shared link stays short and still opens the same view.

Pure functions, no streamlit: the pages call them with ``st.query_params``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence

Kind = Literal["int", "float", "choice", "bool"]

MAX_RAW_LENGTH = 64
"""Longer query values are refused outright (no legitimate setting needs more)."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One page setting that lives in the URL.

    ``kind`` is ``int`` or ``float`` (with inclusive bounds ``lo``/``hi`` and an
    optional ``step``: values snap to ``lo + k * step``), ``choice`` (one of
    ``choices``; each choice is written as ``str(choice)``, and ``None`` as
    ``none``) or ``bool``. ``label`` is the name users see in messages.
    """

    name: str
    default: Any
    kind: Kind = "int"
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = field(default_factory=tuple)
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float", "choice", "bool"):
            raise ValueError(f"Param {self.name!r}: kind must be int, float, choice or bool, got {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Param {self.name!r}: a choice needs choices")
        if self.kind in ("int", "float") and self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"Param {self.name!r}: lo {self.lo} is above hi {self.hi}")
        problem = check(self, self.default)
        if problem:
            raise ValueError(f"Param {self.name!r}: default {self.default!r} is not valid ({problem})")

    @property
    def title(self) -> str:
        """Name shown in messages."""
        return self.label or self.name


def _text(value: Any) -> str:
    """How a value is written in the URL."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def text_of(value: Any) -> str:
    """How ``value`` is written in a link (what :func:`parse_value` reads back), e.g. for a hand-made link."""
    return _text(value)


def _fmt(value: float) -> str:
    return f"{value:g}"


def check(param: Param, value: Any) -> str | None:
    """Why ``value`` is not an allowed value of ``param`` (None when it is)."""
    if param.kind == "choice":
        return None if value in param.choices else f"must be one of {', '.join(_text(c) for c in param.choices)}"
    if param.kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    if param.kind == "int" and not isinstance(value, int):
        return "must be a whole number"
    if not math.isfinite(value):
        return "must be a finite number"
    if param.lo is not None and value < param.lo:
        return f"must be at least {_fmt(param.lo)}"
    if param.hi is not None and value > param.hi:
        return f"must be at most {_fmt(param.hi)}"
    return None


def _clamp(param: Param, value: float) -> float:
    if param.lo is not None:
        value = max(param.lo, value)
    if param.hi is not None:
        value = min(param.hi, value)
    return value


def _snap(param: Param, value: float) -> float:
    """Round a finite ``value`` into the bounds and onto the step grid (never overflows: clamped first)."""
    value = _clamp(param, value)
    if param.step:
        base = param.lo if param.lo is not None else 0.0
        steps = (value - base) / param.step
        if math.isfinite(steps):
            value = _clamp(param, base + round(steps) * param.step)
    return value


def _echo(text: str) -> str:
    """A short, inert quote of what the link held: letters, digits, ``.``, ``-``, ``+`` and spaces only,
    so a message never carries Markdown, HTML or a link (pages still show messages as plain text)."""
    kept = "".join(ch if ch.isalnum() or ch in " .-+" else "?" for ch in text[:24])
    return kept + ("..." if len(text) > 24 else "")


def parse_value(param: Param, raw: Any) -> tuple[Any, str | None]:
    """One setting from its raw URL text: ``(value, message)``; ``message`` is None when ``raw`` was fine.

    A repeated key (list) uses its last value. Unreadable text gives the default, numbers out of
    range the nearest bound, and the message says so in one short sentence.
    """
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else ""
    text = str(raw).strip()
    name = param.title
    if len(text) > MAX_RAW_LENGTH:
        return param.default, f"'{name}' was too long; using {_text(param.default)}."
    if param.kind == "bool":
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE, None
        return param.default, f"'{name}' must be true or false, got '{_echo(text)}'; using {_text(param.default)}."
    if param.kind == "choice":
        for choice in param.choices:
            if text.lower() == _text(choice).lower():
                return choice, None
        allowed = ", ".join(_text(c) for c in param.choices)
        return param.default, f"'{name}' must be one of {allowed}, got '{_echo(text)}'; using {_text(param.default)}."
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        return param.default, f"'{name}' must be a number, got '{_echo(text)}'; using {_text(param.default)}."
    snapped = _snap(param, number)
    value: Any = int(round(snapped)) if param.kind == "int" else float(snapped)
    if param.kind == "int" and param.hi is not None and value > param.hi:
        value = int(math.floor(param.hi))
    if param.kind == "int" and param.lo is not None and value < param.lo:
        value = int(math.ceil(param.lo))
    if param.lo is not None and number < param.lo:
        return value, f"'{name}' must be at least {_fmt(param.lo)}, got {_echo(text)}; using {_text(value)}."
    if param.hi is not None and number > param.hi:
        return value, f"'{name}' must be at most {_fmt(param.hi)}, got {_echo(text)}; using {_text(value)}."
    if param.kind == "int" and number != value:
        return value, f"'{name}' must be a whole number, got {_echo(text)}; using {_text(value)}."
    if param.kind == "float" and param.step and not math.isclose(number, value, rel_tol=1e-9, abs_tol=1e-12):
        return value, f"'{name}' moves in steps of {_fmt(param.step)}, got {_echo(text)}; using {_text(value)}."
    return value, None


def parse(params: Sequence[Param], query: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every setting of ``params`` from ``query``: ``(values, messages)``.

    Missing keys take their default silently; keys that are not settings of this page are ignored
    (they may belong to the app, e.g. the chosen model). Never raises on what ``query`` holds.
    """
    values: dict[str, Any] = {}
    messages: list[str] = []
    for param in params:
        if param.name not in query:
            values[param.name] = param.default
            continue
        value, message = parse_value(param, query[param.name])
        values[param.name] = value
        if message:
            messages.append(message)
    return values, messages


def encode(params: Sequence[Param], values: Mapping[str, Any], keep_defaults: bool = False) -> dict[str, str]:
    """Query parameters for ``values``: only those that differ from their default unless ``keep_defaults``.

    Values that are not valid for their parameter are left out (the page then opens on the default).
    """
    out: dict[str, str] = {}
    for param in params:
        if param.name not in values:
            continue
        value = values[param.name]
        if check(param, value) is not None:
            continue
        if keep_defaults or value != param.default:
            out[param.name] = _text(value)
    return out


def names(params: Iterable[Param]) -> set[str]:
    """The URL keys of ``params``."""
    return {p.name for p in params}


__all__ = ["MAX_RAW_LENGTH", "Param", "check", "encode", "names", "parse", "parse_value", "text_of"]
