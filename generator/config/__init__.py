"""The site's configuration: site.toml -> a frozen `SiteConfig`, and the presets."""

from generator.config.presets import PRESETS, Preset
from generator.config.site import SiteConfig, load_config

__all__ = ["PRESETS", "Preset", "SiteConfig", "load_config"]
