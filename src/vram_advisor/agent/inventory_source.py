"""Where the agents (``serve``, ``mcp``) get the inventory they answer for: a saved file, stdin, or this machine.

Both commands take ``--inventory PATH``; this is the one place that turns it into the function the agents call
for each answer (``serve`` behind its cache, ``mcp`` at each tool call).
"""

from __future__ import annotations

from collections.abc import Callable

from vram_advisor.inventory import model as inv

InventorySource = Callable[[], inv.Inventory]


def inventory_source(inventory_path: str | None, model_dir: str | None = None) -> InventorySource:
    """A function giving the inventory to answer for.

    * ``PATH``: the file, re-read at each call (so edits show); it is read once now as well, so that a bad file is
      the user's to fix at start-up (``InventoryError``, exit 2), not an error at the first request;
    * ``-``: standard input, read once, now;
    * ``None``: this machine, probed at each call (``probe.collect_inventory``, imported only then).
    """
    if inventory_path == "-":
        fixed = inv.load("-")
        return lambda: fixed
    if inventory_path is not None:
        path: str = inventory_path
        inv.load(path)
        return lambda: inv.load(path)

    def probe_here() -> inv.Inventory:
        from vram_advisor.probe import collect_inventory

        return collect_inventory(model_dir)

    return probe_here
