"""Page settings kept in the URL, so a link reopens the same view (parsing and checks: ``mbi.urlstate``).
"""

from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

from mbi import urlstate

from dashboard import furniture, models, session_weights


def _wkey(page: str, name: str) -> str:
    return f"{page}.{name}"


def wkey(page: str, name: str) -> str:
    """Session-state key of a page setting's widget."""
    return _wkey(page, name)


def url_settings(page: str, params: Sequence[urlstate.Param]) -> Any:
    """Prepare a page's widgets from the URL; call before creating them (with ``key=wkey(page, name)``).

    A link or hand-edited URL seeds the widgets (invalid values are fixed and explained); otherwise
    each widget keeps the value it had when the visitor last saw the page. Returns the placeholder
    where :func:`sync_url` shows the messages.
    """
    names = urlstate.names(params)
    query = st.query_params.to_dict()
    ours = {k: v for k, v in query.items() if k in names}
    last = st.session_state.get(f"_url_last.{page}")
    if ours and ours != last:
        values, messages = urlstate.parse(params, query)
        for p in params:
            st.session_state[_wkey(page, p.name)] = values[p.name]
        st.session_state[f"_url_msgs.{page}"] = (messages, values)
    for p in params:
        key = _wkey(page, p.name)
        if key not in st.session_state:
            st.session_state[key] = st.session_state.get(f"_keep.{key}", p.default)
        elif urlstate.check(p, st.session_state[key]) is not None:
            st.session_state[key] = p.default
    return st.container()


def peek(page: str, params: Sequence[urlstate.Param], page_names: set[str]) -> dict[str, Any]:
    """The values :func:`url_settings` is about to give ``params``, before it is called.

    For a page whose other settings depend on these (e.g. a threshold's range on the trace the
    image count gives): ``page_names`` are all the page's URL keys, so a changed link is seen
    exactly as :func:`url_settings` sees it.
    """
    query = st.query_params.to_dict()
    ours = {k: v for k, v in query.items() if k in page_names}
    if ours and ours != st.session_state.get(f"_url_last.{page}"):
        return urlstate.parse(params, query)[0]
    out = {}
    for p in params:
        key = _wkey(page, p.name)
        value = st.session_state.get(key, st.session_state.get(f"_keep.{key}", p.default))
        out[p.name] = value if urlstate.check(p, value) is None else p.default
    return out


def sync_url(page: str, params: Sequence[urlstate.Param], placeholder: Any = None) -> dict[str, Any]:
    """Write the page's current settings to the URL (non-defaults only) and return them."""
    values = {p.name: st.session_state.get(_wkey(page, p.name), p.default) for p in params}
    for name, value in values.items():
        st.session_state[f"_keep.{_wkey(page, name)}"] = value
    ours = urlstate.encode(params, values)
    query = {models.MODEL_KEY: models.current_model_name()} if models.current_model_name() != models.DEFAULT_MODEL else {}
    weights = session_weights.weights_query()
    query.update(weights)
    query.update(ours)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state[f"_url_last.{page}"] = ours
    st.session_state["_url_weights"] = weights
    if models.MODEL_KEY in query:
        st.session_state["_url_model"] = query[models.MODEL_KEY]
    stored = st.session_state.get(f"_url_msgs.{page}")
    if stored:
        messages, seeded = stored
        if values != seeded:
            st.session_state.pop(f"_url_msgs.{page}")
        elif messages and placeholder is not None:
            placeholder.warning("The link had settings this page cannot use, so they were fixed: "
                                + furniture.plain(" ".join(messages)), icon=":material/link:")
    return values
