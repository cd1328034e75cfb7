"""Measurements of the network the site shows beside its visualizations (first-layer filters)."""
