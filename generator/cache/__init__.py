"""The artifact cache: content-addressed visualizations with a typed JSON sidecar."""

from generator.cache.sidecar import Artifact
from generator.cache.store import CACHE_FORMAT, FORMAT_FILE, ArtifactStore

__all__ = ["CACHE_FORMAT", "FORMAT_FILE", "Artifact", "ArtifactStore"]
