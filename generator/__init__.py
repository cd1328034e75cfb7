"""featvis: a static explainer-site generator for feature visualization."""

__version__ = "0.1.0"
