"""The estimate options shared by ``check`` and ``estimate``: KV cache format, which weights drive the verdict, the
RAM and disk bandwidths for the speed bounds, and the release; declared once in the check option table
(``vram_advisor.options``)."""

from __future__ import annotations

from typing import Annotated

from vram_advisor.cli.optiontable import option_info

KvDtypeOpt = Annotated[str, option_info("kv_dtype")]
SizesOpt = Annotated[str, option_info("sizes")]
RamBwOpt = Annotated[str | None, option_info("ram_bw")]
DiskBwOpt = Annotated[str | None, option_info("disk_bw")]
ReleaseOpt = Annotated[str | None, option_info("release")]
