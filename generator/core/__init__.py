"""The ground floor: errors, device, atomic writes, image conversions, the site's URL scheme,
shipped resources, publishing and the site lock, progress output and the build's warnings.
Imports nothing else of featvis."""
