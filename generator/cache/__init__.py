"""The artifact cache: content-addressed visualizations with a typed JSON sidecar.

The package itself imports nothing, so `generator.cache.entries` (the one way every cache reads)
loads without torch; the store is `generator.cache.store`, the sidecar `generator.cache.sidecar`.
"""
