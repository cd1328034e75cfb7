"""The site plan: the explorer's inventory, every figure's jobs, and the plan -> compute -> plan
rounds."""
