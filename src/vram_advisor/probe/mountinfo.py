"""``/proc/self/mountinfo`` parsed: every mount this process sees, with its device number, root and type.

Format (proc(5)): ``id parent major:minor root mountpoint options [optional...] - fstype source super_options``;
space, tab, newline and backslash in paths are written as octal escapes (``\\040``).
"""

from __future__ import annotations

from vram_advisor.core.records import Record, dataclass


@dataclass(frozen=True, repr=False)
class Mount(Record):
    major: int
    minor: int
    root: str
    mountpoint: str
    options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options or "ro" in self.super_options


def unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse(text: str) -> list[Mount]:
    """Every well-formed line of a mountinfo file, in order (a later mount on the same point hides earlier ones)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) < dash + 3:
            continue
        device = fields[2].split(":")
        try:
            major, minor = int(device[0]), int(device[1])
        except (ValueError, IndexError):
            continue
        mounts.append(
            Mount(
                major=major,
                minor=minor,
                root=unescape(fields[3]),
                mountpoint=unescape(fields[4]),
                options=tuple(fields[5].split(",")),
                fstype=fields[dash + 1],
                source=unescape(fields[dash + 2]),
                super_options=tuple(fields[dash + 3].split(",")) if len(fields) > dash + 3 else (),
            )
        )
    return mounts
