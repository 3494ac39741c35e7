"""The shared sidebar: which model every page shows (``?model=``) and the session's distance weights.
"""

from __future__ import annotations

import streamlit as st

from mbi.data import dataset_info
from mbi.model.checkpoint import check_weights_file

from dashboard import furniture, models, session_weights


def sidebar() -> None:
    """The shared sidebar: which model every page shows (kept in the URL as ``?model=``)."""
    choices = models.model_choices()
    raw = st.query_params.get(models.MODEL_KEY)
    if raw is not None and raw != st.session_state.get("_url_model"):
        if raw in choices:
            st.session_state[models.MODEL_KEY] = raw
        else:
            st.session_state["_model_message"] = f"Model '{raw[:40]}' is not available here; showing the default."
            st.session_state[models.MODEL_KEY] = models.DEFAULT_MODEL
        st.session_state["_url_model"] = raw
    if st.session_state.get(models.MODEL_KEY) not in choices:
        st.session_state[models.MODEL_KEY] = models.DEFAULT_MODEL
    session_weights._weights_from_url()
    with st.sidebar:
        st.selectbox("Model", list(choices), format_func=choices.get, key=models.MODEL_KEY,
                     help="The RAM every page shows, and with it the dataset every page's images come from: "
                          "a shipped model (MNIST or Fashion-MNIST) or a run trained on the 'RAM hyperparameters' "
                          "page.")
        message = st.session_state.pop("_model_message", None)
        if message:
            st.warning(furniture.plain(message))
        _model_summary()
        _weights_sidebar()


def _model_summary() -> None:
    try:
        cfg, metrics = models.current_config(), models.current_metrics()
        check_weights_file(models.model_folder(models.current_model_name()))
    except furniture.USER_ERRORS as exc:
        st.error(furniture.friendly(exc))
        return
    r = cfg.ram
    acc = metrics.get("test_acc")
    st.caption(
        f"{dataset_info(cfg.dataset).title}: {r.num_glimpses} glimpses, {r.num_patches} patches of {r.patch_size}x{r.patch_size} (scale "
        f"{r.glimpse_scale}), hidden {r.state_size} x {r.hidden_bits or 'float'} bit, patch "
        f"{r.patch_bits or 'float'} bit"
        + (f"; test accuracy {100 * acc:.2f}%" if isinstance(acc, (int, float)) else ""))
    folder = models.model_folder(models.current_model_name())
    st.download_button("Download model (zip)", data=lambda: furniture.zip_folder(folder), file_name=f"mbi-{folder.name}.zip",
                       mime="application/zip", key="dl_model", icon=":material/download:")


def _weights_sidebar() -> None:
    """Sidebar indicator of the session's distance weights, with a way back to the model's own."""
    try:
        cfg = models.current_config()
    except furniture.USER_ERRORS:
        return
    if cfg.ram.patch_bits is None or cfg.ram.hidden_bits is None:
        return
    state = session_weights._weights_state()
    own, _ = session_weights.model_weights()
    st.markdown(f"**Distance weights** (eq. 1)  \n{session_weights.weights_text(session_weights.current_weights())}")
    st.caption(f"Used by every lookup page; {state['source']}.")
    if session_weights.current_weights() != own:
        st.button("Use the model's own weights", on_click=session_weights.reset_weights, key="reset_weights",
                  icon=":material/undo:")
    message = st.session_state.pop("_weights_message", None)
    if message:
        st.warning(furniture.plain(message))
