"""The image peer of the dashboard's cold start (``benchmarks.coldstart``): the least a Streamlit page with one
figure drawn as an image can do.

One ``st.image`` of a tiny SVG document and nothing else (the Overview shows its figures so, built by
``mbi.plots.static``), served as :mod:`benchmarks.peer_app` is: its time from a fresh server process to the
loaded image is the floor of Streamlit alone (its bundle and the small ``ImageList`` chunk), against which the
Overview's first figure is compared; ``peer_app`` (one Plotly figure) is the floor of its first Plotly figure.
"""

import streamlit as st

st.image('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="60"><rect x="2" y="2" width="296" height="56" '
         'rx="6" fill="grey"/></svg>', caption="one SVG image")
