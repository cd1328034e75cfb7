"""The ground floor: errors, device, atomic writes, image conversions, the site's URL scheme,
shipped resources and publishing. Imports nothing else of featvis."""
