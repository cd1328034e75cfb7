"""The lowest layer: helpers every other part of featvis may import (progress output, the
build's warnings)."""
