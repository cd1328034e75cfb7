"""The base layer: errors, devices, atomic writes and publishing, locks."""
