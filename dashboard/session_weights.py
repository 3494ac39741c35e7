"""The session's distance weights a, b, c of eq. (1): from the model's lookup.json, the metric search
or a link (``wb``/``wc`` = b/a, c/a), shared by every lookup page.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from mbi import urlstate
from mbi.search.weights import RATIO_RANGE, Weights, from_ratios, ratios_of

from dashboard import models


WEIGHTS_STATE = "_weights"
"""Session-state key of the distance weights every lookup page uses (set by the metric search or a link)."""


WEIGHT_NAMES = ("wb", "wc")
"""URL keys of the weights: the ratios b/a and c/a of eq. (1) (a = 1), as in the metric search."""


def as_session_weights(weights: Sequence[float]) -> Weights:
    """``weights`` as the session keeps them (ratios rounded as in links, normalized): comparable with
    :func:`current_weights`."""
    return from_ratios(*ratios_of(weights))


def unweighted() -> Weights:
    """a = b = c, normalized like every session weight."""
    return from_ratios(1.0, 1.0)


def model_weights(name: str | None = None) -> tuple[Weights, str]:
    """The model's own weights (its ``lookup.json``, else unweighted) and where they come from."""
    recorded = models.lookup_settings_of(name).weights
    if recorded is not None and recorded[0] > 0:
        return as_session_weights(recorded), "the model's recorded weights (lookup.json)"
    return unweighted(), "unweighted (a = b = c)"


def weight_params(name: str | None = None) -> list[urlstate.Param]:
    """URL settings of the weights, defaulting to the model's own."""
    wb, wc = ratios_of(model_weights(name)[0])
    return [urlstate.Param("wb", wb, "float", lo=RATIO_RANGE[0], hi=RATIO_RANGE[1], label="weight ratio b/a"),
            urlstate.Param("wc", wc, "float", lo=RATIO_RANGE[0], hi=RATIO_RANGE[1], label="weight ratio c/a")]


def _weights_state() -> dict:
    state = st.session_state.get(WEIGHTS_STATE)
    if not state or state.get("model") != models.current_model_name():
        weights, source = model_weights()
        state = {"model": models.current_model_name(), "ratios": ratios_of(weights), "source": source, "own": True}
        st.session_state[WEIGHTS_STATE] = state
    return state


def current_weights() -> Weights:
    """The session's eq. (1) weights (a, b, c), normalized to sum 1: what every lookup page uses."""
    return from_ratios(*_weights_state()["ratios"])


def weights_source() -> str:
    """Where the session's weights come from, in a few words."""
    return str(_weights_state()["source"])


def set_weights(weights: Sequence[float], source: str) -> None:
    """Use ``weights`` (a, b, c) on every lookup page of this session (and in its links)."""
    st.session_state[WEIGHTS_STATE] = {"model": models.current_model_name(), "ratios": ratios_of(weights),
                                       "source": source, "own": False}


def reset_weights() -> None:
    """Back to the model's own weights."""
    st.session_state.pop(WEIGHTS_STATE, None)


def weights_text(weights: Sequence[float]) -> str:
    """``a : b : c = 1 : 0.52 : 1.9`` (ratios to a, as the metric search varies them)."""
    wb, wc = ratios_of(weights)
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
