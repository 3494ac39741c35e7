"""The session's distance weights a, b, c of eq. (1): from the model's lookup.json, the metric search
or a link (``wb``/``wc`` = b/a, c/a), shared by every lookup page.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from mbi import urlstate

from dashboard import models


WEIGHTS_STATE = "_weights"
"""Session-state key of the distance weights every lookup page uses (set by the metric search or a link)."""


WEIGHT_NAMES = ("wb", "wc")
"""URL keys of the weights: the ratios b/a and c/a of eq. (1) (a = 1), as in the metric search."""


def _ratios_of(weights: Sequence[float]) -> tuple[float, float]:
    """(b/a, c/a) of eq. (1) weights, inside the metric search's range, rounded as the URL writes them."""
    from mbi.inference.bo import RATIO_RANGE

    a, b, c = (float(w) for w in weights)
    if not a > 0:
        return 1.0, 1.0
    lo, hi = RATIO_RANGE
    return tuple(float(f"{min(hi, max(lo, v)):.6g}") for v in (b / a, c / a))  # type: ignore[return-value]


def _weights_of(ratios: Sequence[float]) -> tuple[float, float, float]:
    from mbi.inference.bo import weights_of

    return tuple(round(w, 12) for w in weights_of({"b_over_a": ratios[0], "c_over_a": ratios[1]}))  # type: ignore


def as_session_weights(weights: Sequence[float]) -> tuple[float, float, float]:
    """``weights`` as the session keeps them (ratios rounded as in links, normalized): comparable with
    :func:`current_weights`."""
    return _weights_of(_ratios_of(weights))


def unweighted() -> tuple[float, float, float]:
    """a = b = c, normalized like every session weight."""
    return _weights_of((1.0, 1.0))


def model_weights(name: str | None = None) -> tuple[tuple[float, float, float], str]:
    """The model's own weights (its ``lookup.json``, else unweighted) and where they come from."""
    recorded = models.lookup_settings_of(name).get("weights")
    if isinstance(recorded, list) and len(recorded) == 3 and all(isinstance(w, (int, float)) for w in recorded):
        return _weights_of(_ratios_of(recorded)), "the model's recorded weights (lookup.json)"
    return unweighted(), "unweighted (a = b = c)"


def weight_params(name: str | None = None) -> list[urlstate.Param]:
    """URL settings of the weights, defaulting to the model's own."""
    from mbi.inference.bo import RATIO_RANGE

    wb, wc = _ratios_of(model_weights(name)[0])
    return [urlstate.Param("wb", wb, "float", lo=RATIO_RANGE[0], hi=RATIO_RANGE[1], label="weight ratio b/a"),
            urlstate.Param("wc", wc, "float", lo=RATIO_RANGE[0], hi=RATIO_RANGE[1], label="weight ratio c/a")]


def _weights_state() -> dict:
    state = st.session_state.get(WEIGHTS_STATE)
    if not state or state.get("model") != models.current_model_name():
        weights, source = model_weights()
        state = {"model": models.current_model_name(), "ratios": _ratios_of(weights), "source": source, "own": True}
        st.session_state[WEIGHTS_STATE] = state
    return state


def current_weights() -> tuple[float, float, float]:
    """The session's eq. (1) weights (a, b, c), normalized to sum 1: what every lookup page uses."""
    return _weights_of(_weights_state()["ratios"])


def weights_source() -> str:
    """Where the session's weights come from, in a few words."""
    return str(_weights_state()["source"])


def set_weights(weights: Sequence[float], source: str) -> None:
    """Use ``weights`` (a, b, c) on every lookup page of this session (and in its links)."""
    st.session_state[WEIGHTS_STATE] = {"model": models.current_model_name(), "ratios": _ratios_of(weights),
                                       "source": source, "own": False}


def reset_weights() -> None:
    """Back to the model's own weights."""
    st.session_state.pop(WEIGHTS_STATE, None)


def weights_text(weights: Sequence[float]) -> str:
    """``a : b : c = 1 : 0.52 : 1.9`` (ratios to a, as the metric search varies them)."""
    wb, wc = _ratios_of(weights)
    return f"a : b : c = 1 : {wb:.3g} : {wc:.3g}"


def weights_query() -> dict[str, str]:
    """The weights' URL parameters (only when they differ from the model's own)."""
    wb, wc = _weights_state()["ratios"]
    return urlstate.encode(weight_params(), {"wb": wb, "wc": wc})


def _weights_from_url() -> None:
    raw = {k: st.query_params.get(k) for k in WEIGHT_NAMES if k in st.query_params}
    if not raw or raw == st.session_state.get("_url_weights"):
        return
    params = weight_params()
    values, messages = urlstate.parse(params, raw)
    st.session_state[WEIGHTS_STATE] = {"model": models.current_model_name(), "ratios": (values["wb"], values["wc"]),
                                       "source": "from the link", "own": False}
    st.session_state["_url_weights"] = raw
    if messages:
        st.session_state["_weights_message"] = "The link's weights were fixed: " + " ".join(messages)
