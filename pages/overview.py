"""Overview: the shipped model's accuracy and the glimpse paths it takes on test digits."""

from __future__ import annotations

import numpy as np
import streamlit as st

from mbi import plots
from mbi.checkpoint import load_config, load_metrics, load_model
from mbi.data import load_mnist
from mbi.ram import trace
from mbi.train import images_to_tensor


@st.cache_resource(show_spinner="Loading the shipped model and MNIST ...")
def _model_and_data():
    return load_model("default"), load_mnist()


st.title("MBI Explorer")
st.markdown(
    "A **recurrent attention model** (RAM) reads a digit through a few tiny, quantized *glimpses*. "
    "Memorization-based inference replaces its arithmetic by lookups in a table distilled from it. "
    "This page shows the shipped model: how well it reads digits and where it looks."
)
try:
    model, data = _model_and_data()
except (FileNotFoundError, ValueError) as exc:
    st.error(str(exc))
    st.stop()

cfg = load_config("default").ram
metrics = load_metrics("default")
cols = st.columns(4)
cols[0].metric("Test accuracy (quantized)", f"{100 * metrics['test_acc']:.2f}%" if "test_acc" in metrics else "n/a",
               help="One deterministic pass (location = policy mean) over the 10,000 test digits.")
cols[1].metric("Glimpses", cfg.num_glimpses)
cols[2].metric("Patches per glimpse", f"{cfg.num_patches} x {cfg.patch_size}x{cfg.patch_size}")
cols[3].metric("Bits (patch / hidden)", f"{cfg.patch_bits} / {cfg.hidden_bits}")

st.subheader("Glimpse paths on test digits")
start = st.number_input("First test image", min_value=0, max_value=len(data.test_y) - 4, value=0, step=4,
                        key="first", help="Index into the 10,000-image test split")
idx = np.arange(int(start), int(start) + 4)
tr = trace(model, images_to_tensor(data.test_x[idx]))
scales = [cfg.glimpse_scale**k for k in range(cfg.num_patches)]
for col, i, b in zip(st.columns(4), idx, range(4)):
    verdict = "correct" if tr.prediction[b] == data.test_y[i] else "wrong"
    fig = plots.glimpse_path(data.test_x[i], tr.centres[b], cfg.patch_size, scales,
                             title=f"#{i}: label {data.test_y[i]}, RAM says {tr.prediction[b]} ({verdict})")
    col.plotly_chart(fig, use_container_width=True)
