"""Every figure of the product; the builders are being split into one module per figure family."""

from mbi.plots.glimpses import *  # noqa: F401,F403
