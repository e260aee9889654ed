"""Fleets: inventory inputs (files, NDJSON streams, engine readers), node facts and the cluster planner."""
