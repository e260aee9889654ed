"""The pure core: the planning rules, occupancy, estimates (KV, weights, placements) and run commands."""
