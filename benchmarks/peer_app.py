"""The peer of the dashboard's cold start (``benchmarks.coldstart``): the least a Streamlit + Plotly page can do.

One ``st.plotly_chart`` of a tiny figure and nothing else, served by the same ``streamlit run`` command
and ``.streamlit/config.toml`` as ``app.py``: its time from a fresh server process to the first drawn
Plotly figure is the floor of Streamlit and Plotly on the machine, against which a page's first Plotly figure is
compared (``peer_image_app``: the same for a figure shown as an image).
"""

import plotly.graph_objects as go
import streamlit as st

st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2], y=[1, 3, 2])))
