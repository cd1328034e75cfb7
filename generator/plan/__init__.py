"""The site plan: which visualizations one model's pages need (the explorer's inventory, every
figure's jobs, the circuit closure), made from what the cache holds, never computing."""
