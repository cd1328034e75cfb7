"""The channel atlas: everything a page per channel needs that the network has to compute.

- `circuits`: which channels of the previous visualized layer (and of a residual or
  concatenating block's inputs) drive a channel, and which channels of the next one it feeds,
  measured by attribution (any architecture) or read from the weights of an adjacent
  convolution; one matrix per pair of layers (and per block), cached by content hash.
- `accentuation`: feature accentuation (Hamblin et al. 2024), a photo optimized from itself to
  raise a channel while an early layer's activations stay close to the photo's; cached jobs.
- `labels`: the optional `labels.toml` of a site, validated against the model's layers.
- `search`: the offline search index, a JavaScript file loaded with a <script> tag.

Nothing here renders HTML; the site side reads the results as data.
"""
