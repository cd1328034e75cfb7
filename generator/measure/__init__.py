"""The measure stage: every use of the network besides the optimizer (checks against the photos,
class readings, first-layer filters, the class a picture drives), cached and batched, run before
rendering so the site renders from data alone. stage: `measure_site`; store: the cache;
filters: which layers are affine in the pixels, and their filters."""
