"""What downloading a repository would fetch: its files (``RepoFile``) and the room they take (``RepoListing``).

The Hub client (``hub.client``) fills it from the Hub's file listing (or the local cache offline); ``check --repo``
plans with it (``plan.repocheck``) and ``check --json`` prints it (``download``). A record only: pure, no Hub here.
"""

from __future__ import annotations

from vram_advisor.core.records import Record, dataclass


@dataclass(frozen=True, repr=False)
class RepoFile(Record):
    """One file of a repo: its path, its size, and whether this disk already holds it."""

    path: str
    size_bytes: int
    local: bool = False


@dataclass(frozen=True, repr=False)
class RepoListing(Record):
    """What downloading ``repo_id`` (narrowed by ``include``) would fetch, and how much room that takes."""

    repo_id: str
    revision: str
    commit: str | None
    include: tuple[str, ...]
    files: tuple[RepoFile, ...]
    source: str
    complete: bool
    target: str
    target_kind: str
    local_consulted: bool
    gated: bool
    scratch_bytes: int
    scratch_note: str
    stale_incomplete_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def local_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files if f.local)

    @property
    def download_bytes(self) -> int:
        """The files still to fetch (those already on this disk do not count again)."""
        return self.total_bytes - self.local_bytes

    @property
    def disk_need_bytes(self) -> int:
        """Room the download needs under its target: the files still to fetch plus the scratch."""
        return self.download_bytes + self.scratch_bytes

    @property
    def label(self) -> str:
        return f"{self.repo_id}@{self.commit[:12] if self.commit else self.revision}"
