"""Static HTML reports with matplotlib plots, written by the ``layerwise`` command and the tour."""
from layerwise.reports import plots
from layerwise.reports.html import Report, save_png

__all__ = ["Report", "plots", "save_png"]
