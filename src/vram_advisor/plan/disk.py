"""Contract rules 8 and 11: the disk under ``--model-dir`` and the download an option runs on.

The need is the chosen download's size (plus, where the file is made, the checkpoint and the 16-bit GGUF the
conversion writes on the way). Where a live probe found every file of the download already there, the free space
does not matter. The disk never changes a recommendation: it answers the gate, and it is named on the first screen
where the recommendation's download does not fit. Pure.
"""

from __future__ import annotations

from vram_advisor.core import units
from vram_advisor.core.jsonread import clean_text
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Disk, Inventory, select_disk


@dataclass(frozen=True, eq=False, repr=False)
class DiskCheck(Record):
    """What a download needs on the disk, the disk it goes to, and whether its files are there already."""

    need_bytes: int | None
    what: str
    disk: Disk | None
    present: bool = False
    converted: bool = False
    #: the gate's words for the need, where the caller has its own (``check --repo``: the files still to fetch)
    described: str | None = None
    #: the folder the download goes to, where it is not the disk's own path (``--model-dir`` or a folder beside the
    #: Hugging Face cache)
    target: str | None = None

    @property
    def where(self) -> str:
        return clean_text(self.target or (self.disk.path if self.disk is not None else "the model dir"))

    @property
    def ok(self) -> bool | None:
        """True: it fits (or is there); False: it does not; None: the free space (or the size) is unknown."""
        if self.present:
            return True
        if self.need_bytes is None or self.disk is None or self.disk.free_bytes is None:
            return None
        return self.disk.free_bytes >= self.need_bytes

    def detail(self) -> str:
        """The gate's disk check, in words."""
        if self.present:
            return f"{self.what}: already on this machine, nothing to download"
        if self.ok is None:
            if self.need_bytes is None:
                return f"{self.what}: its size is unknown, not checked"
            return f"{self.what}, {units.format_file_gb(self.need_bytes)}: free space under the model dir is unknown"
        assert self.disk is not None and self.disk.free_bytes is not None and self.need_bytes is not None
        need = self.described or f"{units.format_file_gb(self.need_bytes)} for {self.what}"
        return f"{need}; {units.format_file_gb(self.disk.free_bytes)} free under {self.where}"

    def line(self) -> str | None:
        """The one line the first screen shows where the download does not fit; None where it does (or unknown)."""
        if self.ok is not False:
            return None
        assert self.disk is not None and self.disk.free_bytes is not None and self.need_bytes is not None
        return (
            f"the download does not fit: {units.format_file_gb(self.need_bytes)} for {self.what}, {self.where} "
            f"has {units.format_file_gb(self.disk.free_bytes)} free"
        )


def download_disk(
    download_bytes: int | None,
    what: str,
    inventory: Inventory,
    model_dir: str | None,
    *,
    repo: str | None = None,
    files: tuple[str, ...] = (),
    converted: bool = False,
) -> DiskCheck:
    """The disk check of one download of ``download_bytes`` (``what`` names it)."""
    return DiskCheck(
        need_bytes=download_bytes,
        what=what,
        disk=select_disk(inventory, model_dir),
        present=inventory.has_files(repo, files),
        converted=converted,
        target=model_dir,
    )
