"""Readers that turn what a cluster manager already knows (Kubernetes node labels, Slurm node records) into
inventories, without running anything on the nodes. Each yields ``(source, Inventory)`` or ``Skipped`` per node."""
