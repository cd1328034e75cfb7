"""The ground floor: errors, device, atomic writes, image conversions, the site's URL scheme,
shipped resources, publishing, progress output and the build's warnings. Imports nothing else
of featvis."""
