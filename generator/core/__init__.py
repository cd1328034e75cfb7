"""The ground floor: errors, device, atomic writes, image conversions, the site's URL scheme,
shipped resources, publishing and the site lock. Imports nothing else of featvis."""
