"""MBI Explorer core: memorization-based inference of a recurrent attention model.

The package never imports streamlit; the dashboard (``app.py``, ``dashboard/``) and the
command line (``python -m mbi``) are thin layers over these modules.
"""

__version__ = "0.1.0"
