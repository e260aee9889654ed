"""The first lines of a run block (contract rule 11): the download of the chosen file into the model folder, then,
where nobody publishes the file, the conversion that makes it; and what the engine line must load.

* With ``--model-dir DIR`` the files go to ``DIR/<repository name>`` (``hf download REPO --include 'GLOB'
  --local-dir ...``: files keep their path in the repository, so a split GGUF's first shard is
  ``DIR/<name>/<folder>/<file>-00001-of-0000N.gguf``), the folder whose disk the check measures.
* Without it the files go to the Hugging Face cache (the default model dir), and the engine loads them by
  repository id from there (vLLM, SGLang, mlx-vlm; llama-server's ``-hf REPO:TAG`` or ``--hf-file``, which read
  and fill the same cache). Engines that take only a path (ds4, oMLX) and conversions use a ``models`` folder beside
  the cache (``fallback_root``), on the disk the check measures.
* One ``--include`` with one glob: repeating the flag or listing several patterns parses differently across
  huggingface_hub versions (``hf download --help``; huggingface_hub 1.0 changed it).

Pure: builds strings, runs nothing.
"""

from __future__ import annotations

import posixpath
import shlex

from vram_advisor.catalog.downloads import ReferenceDownload
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Inventory, select_disk

#: Where path-only engines and conversions put files when no ``--model-dir`` is given and the inventory does not
#: say where the Hugging Face cache is (the shell expands ``~``).
FALLBACK_DIR = "~/models"
#: Engines that load a path, not a repository id from the Hugging Face cache.
PATH_ENGINES = ("ds4", "omlx")
LLAMA_CPP_GIT = "https://github.com/ggml-org/llama.cpp"
CONVERT_REQUIREMENTS = "llama.cpp/requirements/requirements-convert_hf_to_gguf.txt"


class Unquoted(str):
    """A command-line word left for the shell to expand (``~``)."""

    __slots__ = ()


def quote(word: str) -> str:
    """One word for the shell: quoted where it needs it; a path that starts with ``~/`` keeps the tilde outside the
    quotes (``~/'my models/x.gguf'``), where the shell expands it."""
    if isinstance(word, Unquoted):
        return str(word)
    if word.startswith("~/"):
        return "~/" + shlex.quote(word[2:]) if word[2:] else "~/"
    return shlex.quote(word)


def join(parts: list[str]) -> str:
    """Words as one shell line (``quote``)."""
    return " ".join(quote(part) for part in parts)


def _path(folder: str, *rest: str) -> str:
    """A path under ``folder`` (quoted when the line is joined: ``quote``)."""
    return posixpath.join(folder, *rest)


def repo_name(repo: str) -> str:
    return repo.rsplit("/", 1)[-1]


@dataclass(frozen=True, eq=False, repr=False)
class Fetched(Record):
    """What the first lines produce: the lines, and how the engine line reaches the files."""

    lines: tuple[str, ...]
    #: the local folder the files are in (None: the Hugging Face cache, reached by repository id)
    folder: str | None
    #: the file the engine is pointed at, under ``folder`` (or in the repository, for the cache)
    file: str | None
    repo: str | None
    notes: tuple[str, ...] = ()
    #: what must be known before pasting the lines (shown under them on the first screen)
    caveat: str | None = None

    @property
    def path(self) -> str | None:
        """The local path of the file the engine loads (None for the cache or without a file)."""
        if self.folder is None or self.file is None:
            return None
        return _path(self.folder, self.file)


def _selection(download: ReferenceDownload) -> list[str]:
    """What to fetch of the repository: its include glob, else its file list, else everything."""
    if download.include:
        return ["--include", download.include]
    return list(download.files)


def needs_path(download: ReferenceDownload, engine_id: str) -> bool:
    """The files must be in a folder of their own (a path-only engine, or a conversion), not only in the cache."""
    return engine_id in PATH_ENGINES or download.conversion is not None


def probed_model_dir(inventory: Inventory) -> str | None:
    """The folder an inventory was probed with as its model dir (``probe --model-dir /mnt/weights``), where that is
    not the Hugging Face cache: a check of that inventory downloads there, to the disk it measures."""
    disk = next((d for d in inventory.disks if d.model_dir), None)
    if disk is None or not disk.path.startswith("/"):
        return None
    path = disk.path.rstrip("/")
    if posixpath.basename(path) == "hub" or "/huggingface" in path:  # the cache: $HF_HOME/hub, ~/.cache/huggingface
        return None
    return path or "/"


def fallback_root(inventory: Inventory) -> str:
    """Without ``--model-dir``: a ``models`` folder beside the Hugging Face cache the probe measured (so the disk
    check and the path agree), else ``~/models``."""
    disk = select_disk(inventory, None)
    if disk is not None and disk.model_dir and disk.path.startswith("/"):
        return posixpath.join(posixpath.dirname(disk.path.rstrip("/")) or "/", "models")
    return FALLBACK_DIR


def target_dir(download: ReferenceDownload, engine_id: str, inventory: Inventory, model_dir: str | None) -> str | None:
    """The folder the run block downloads into: ``--model-dir``; else, where a path is needed, ``fallback_root``;
    else None (the Hugging Face cache)."""
    if model_dir is not None:
        return model_dir
    return fallback_root(inventory) if needs_path(download, engine_id) else None


def fetch(download: ReferenceDownload, root: str | None, user_dir: bool = True) -> Fetched:
    """The download line of a published file, into ``root``/<repository name> (None: the Hugging Face cache);
    ``user_dir`` says whether ``root`` is the user's ``--model-dir``."""
    assert download.repo is not None
    words = ["hf", "download", download.repo, *_selection(download)]
    first = download.files[0] if download.files else None
    if root is None:
        return Fetched((join(words),), None, first, download.repo)
    folder = _path(root, repo_name(download.repo))
    notes: tuple[str, ...] = ()
    if not user_dir:
        notes = (f"no --model-dir: the files go to {root} (this engine loads a path, not the Hugging Face cache)",)
    return Fetched((join([*words, "--local-dir", folder]),), folder, first, download.repo, notes)


def convert(download: ReferenceDownload, root: str, user_dir: bool = True) -> Fetched:
    """The lines that make a GGUF nobody publishes, in ``root``: llama.cpp's converter and quantizer on the
    checkpoint."""
    conversion = download.conversion
    assert conversion is not None
    name = repo_name(conversion.checkpoint_repo)
    checkpoint = _path(root, name)
    lines = [
        join(["git", "clone", "--depth", "1", LLAMA_CPP_GIT]),
        join(["python3", "-m", "pip", "install", "-r", CONVERT_REQUIREMENTS]),
        join(["hf", "download", conversion.checkpoint_repo, "--local-dir", checkpoint]),
    ]
    first = _path(root, f"{name}-{conversion.outtype.upper()}.gguf")
    lines.append(
        join(
            [
                "python3",
                "llama.cpp/convert_hf_to_gguf.py",
                checkpoint,
                "--outtype",
                conversion.outtype,
                "--outfile",
                first,
            ]
        )
    )
    final = first
    if conversion.quantize_type is not None:
        final = _path(root, f"{name}-{conversion.quantize_type}.gguf")
        lines.append(join(["llama-quantize", first, final, conversion.quantize_type]))
    notes = [
        f"no published GGUF of this quantization: the lines above make one from {conversion.checkpoint_repo} with "
        "llama.cpp's convert_hf_to_gguf.py (V4 conversion: llama.cpp PR #22359)"
        + (f" and llama-quantize {conversion.quantize_type}" if conversion.quantize_type else ""),
    ]
    converter = [part for part in (conversion.checkpoint_note or "").split("; ") if "convert" in part]
    caveat = "nobody publishes this GGUF: the lines make it from the checkpoint"
    if converter:
        caveat += "; " + "; ".join(converter)
    if not user_dir:
        notes.append(f"no --model-dir: the checkpoint and the GGUFs go to {root}")
    return Fetched(tuple(lines), posixpath.dirname(final) or ".", posixpath.basename(final), None, tuple(notes), caveat)
