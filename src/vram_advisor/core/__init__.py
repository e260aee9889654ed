"""Core: errors, units, records, bounded JSON reading and policy constants. Imports nothing else of the package."""
