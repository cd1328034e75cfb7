"""The site through its stages: read once into a `Site` (`pipeline`), then settle (the plan ->
compute -> plan rounds, in processes where they pay: `settle`, `rounds`, `workers`) and measure
(`measured`)."""
