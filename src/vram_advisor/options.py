"""The one table of ``check``'s options (``CHECK_OPTIONS``): each option's name, kind, default, help and parser,
declared once. The front ends are generated from it: the CLI's ``check`` parameters (``cli.options``), the HTTP
agent's ``/check`` query (``agent.http_routes``) and the MCP ``check`` tool's schema (``agent.mcp``);
``service.check_options`` parses a request with it.

This module imports only ``core`` at its top (the CLI reads it on every start); each parser imports what it needs
when it runs. Adding an option: one ``CheckOption`` here, its field on ``service.CheckRequest`` and
``plan.check.CheckOptions``, and its use in ``plan/`` (CONTRIBUTING.md, "A check option").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.modeldir import model_dir_of
from vram_advisor.core.records import Record, dataclass

if TYPE_CHECKING:
    from vram_advisor.catalog.profiles import Catalog, ModelProfile

#: ``flag``: a yes/no switch (False unless given); ``text``: one string; ``list``: a repeatable string.
Kind = Literal["flag", "text", "list"]


@dataclass(frozen=True, repr=False)
class CheckOption(Record):
    """One option of ``check``, as every front end offers it.

    ``name`` is the ``service.CheckRequest`` field, the CLI parameter, the ``/check`` query parameter and the MCP
    argument; ``flag`` the CLI option (``--kv-dtype``). ``help`` is the CLI's text and ``description`` the MCP
    tool's (None: the CLI's). ``parse`` checks a given string the way ``service.run_check`` will, before anything
    is probed (the HTTP agent answers 400 for a bad one); ``into`` names the ``plan.check.CheckOptions`` field
    that takes the value as given. ``remote`` is None where the agents (HTTP, MCP) take the option, else why not.
    """

    name: str
    flag: str
    help: str
    kind: Kind = "text"
    default: str | bool | None = None
    metavar: str | None = None
    description: str | None = None
    choices: tuple[str, ...] = ()
    parse: Callable[[str, Catalog], object] | None = None
    into: str | None = None
    remote: str | None = None
    #: Run by the CLI as the value is read (typer's ``callback``), so a bad value stops the command line first.
    callback: Callable[[str | None], str | None] | None = None


# ----------------------------------------------------------------------------------------------- the parsers


def parse_context(text: str | None, models: Sequence[ModelProfile] | None = None) -> int:
    """``--context`` as a token count. Beyond every model's context, the message names the longest context of
    ``models`` (by default the Pro/Flash pair), so the user learns the limit rather than just "too long"."""
    if text is None:
        from vram_advisor.plan.check import DEFAULT_CONTEXT_TOKENS

        return DEFAULT_CONTEXT_TOKENS
    try:
        return units.parse_tokens(text)
    except units.ContextTooLongError:
        raise UsageError(too_long(text, models)) from None
    except units.SizeError as exc:
        raise UsageError(f"--context: {exc}") from None


def too_long(text: str, models: Sequence[ModelProfile] | None) -> str:
    """The message for a context longer than every model in play takes, naming the longest one."""
    from vram_advisor.catalog.userprofiles import default_catalog
    from vram_advisor.plan.rules import candidates

    in_play = candidates(default_catalog(), False) if models is None else models
    limits = [(m.architecture.max_context_tokens, m.id) for m in in_play if m.architecture is not None]
    if not limits:
        return f"--context {text}: longer than any model's context"
    longest = max(tokens for tokens, _ in limits)
    names = ", ".join(model_id for tokens, model_id in limits if tokens == longest)
    return f"--context {text}: longer than the longest context of the models in play, {longest:,} tokens ({names})"


def _context(text: str, _catalog: Catalog) -> object:
    return parse_context(text)


#: The most concurrent sequences ``--users`` plans for: far beyond what one machine serves at a V4 context
#: (vLLM's own default cap, ``--max-num-seqs``, is 256 to 1024), small enough that the KV arithmetic stays exact.
MAX_USERS = 4096


def parse_users(text: str | None) -> int:
    """``--users N``: how many concurrent sequences, each at ``--context``, the plan serves (1 when not given).
    Only 0, negatives, non-integers and more than ``MAX_USERS`` are bad input; more users than fit is an answer."""
    if text is None:
        return 1
    from vram_advisor.core.numbers import NumberError, parse_int, shown

    try:
        return parse_int(text, 1, MAX_USERS)
    except NumberError:
        raise UsageError(
            f"--users {shown(text)}: expected a whole number of concurrent sequences from 1 to {MAX_USERS:,}"
        ) from None


#: The most tokens a plan's sequences may hold in all (``--users`` x ``--context``): llama-server reads ``-c`` as a C
#: ``int`` (common/arg.cpp, ``std::stoi``), and its command carries users x context there.
MAX_SERVED_TOKENS = 2**31 - 1


def check_served_tokens(users: int, context_tokens: int) -> None:
    """``--users`` x ``--context`` within ``MAX_SERVED_TOKENS``: one line and exit 2 beyond it."""
    if users * context_tokens > MAX_SERVED_TOKENS:
        raise UsageError(
            f"--users {users} x --context {context_tokens:,} tokens is {users * context_tokens:,} tokens in all, more "
            f"than one engine's cache is given here (at most {MAX_SERVED_TOKENS:,}: llama-server's -c is a 32-bit "
            "integer); plan fewer users or a shorter context"
        )


def _users(text: str, _catalog: Catalog) -> object:
    return parse_users(text)


def _require(text: str, catalog: Catalog) -> object:
    from vram_advisor.plan.rules import parse_requirement

    model_id, quant_id = parse_requirement(text)
    return catalog.model(model_id).quant(quant_id)


def _gpus(text: str, _catalog: Catalog) -> object:
    from vram_advisor.inventory import model as inv
    from vram_advisor.inventory import whatif

    return whatif.apply(inv.Inventory(ram=inv.Ram(total_bytes=0)), gpus=text)


def _ram(text: str, _catalog: Catalog) -> object:
    from vram_advisor.inventory import model as inv
    from vram_advisor.inventory import whatif

    return whatif.apply(inv.Inventory(ram=inv.Ram(total_bytes=0)), ram=text)


def _estimate(name: str) -> Callable[[str, Catalog], object]:
    """The parser of one of ``EstimateOptions``' four options (``kv_dtype``, ``sizes``, ``ram_bw``, ``disk_bw``)."""

    def parse(text: str, _catalog: Catalog) -> object:
        from vram_advisor.plan.check_estimates import EstimateOptions

        given: dict[str, Any] = {name: text}
        return EstimateOptions.parse(**given)

    return parse


def _release(text: str, catalog: Catalog) -> object:
    from vram_advisor.catalog.releases import with_release

    return with_release(catalog, text)


def _revision(text: str, _catalog: Catalog) -> object:
    from vram_advisor.hub.settings import check_revision

    return check_revision(text)


# ------------------------------------------------------------------------------------------------- the table

_AS_REPO = "as --repo"
#: Every option of ``check``, in the order ``check --help`` lists them.
CHECK_OPTIONS: tuple[CheckOption, ...] = (
    CheckOption(
        "inventory_path",
        "--inventory",
        "Use a saved inventory (probe --json) instead of probing; - reads stdin.",
        metavar="PATH",
        remote="an agent judges the machine it runs on; it reads no file a caller names",
    ),
    CheckOption(
        "require",
        "--require",
        "Pre-install check: exit 0 if it fits, 1 if not.",
        metavar="MODEL:QUANT",
        description='Pre-install question "MODEL:QUANT", e.g. "{example}": the answer is in "required" '
        "(fits true/false, and why). Models: {models}; quants: fp8, q6, q5, q4, q3, q2.",
        parse=_require,
    ),
    CheckOption(
        "allow_offload",
        "--allow-offload",
        "With --require: a fit that needs system RAM counts as a fit.",
        kind="flag",
        description='With require: a fit that needs system RAM beside the GPUs ("offload") counts as a fit.',
        into="allow_offload",
    ),
    CheckOption(
        "base",
        "--base",
        "Consider the two Base models instead of the instruct models.",
        kind="flag",
        description="Consider the two Base (pre-trained) models instead of the instruct models.",
        into="base",
    ),
    CheckOption(
        "context",
        "--context",
        "Planned context length: 32768, 128k, 1M.",
        metavar="TOKENS",
        description='Planned context length in tokens: "32768", "128k" or "1M" (k = 1024). Default 32k.',
        parse=_context,
    ),
    CheckOption(
        "users",
        "--users",
        "Plan for N concurrent sequences at --context each (KV for N; the printed command serves N).",
        metavar="N",
        description="How many concurrent sequences (users), each at the planned context: the KV cache is counted "
        "for all of them and the run command serves that many. Default 1.",
        parse=_users,
    ),
    CheckOption(
        "kv_dtype",
        "--kv-dtype",
        "KV cache format for the context estimate: bf16 (llama.cpp's) or fp8 (vLLM's fp8_ds_mla).",
        default="bf16",
        metavar="bf16|fp8",
        description="Data type of the KV cache: bf16 (default) or fp8 (about half).",
        choices=("bf16", "fp8"),
        parse=_estimate("kv_dtype"),
    ),
    CheckOption(
        "sizes",
        "--sizes",
        "Sizes that drive the verdict: real downloads with KV and overhead (default), the article's table alone "
        "(rules 1-8 exactly), or the published files scaled by the table's headroom.",
        default="real",
        metavar="real|table|published",
        description='Which sizes drive the verdict: "real" (the files a user downloads, default), "table" (the '
        'article\'s figures alone) or "published" (the old published-size view).',
        choices=("real", "table", "published"),
        parse=_estimate("sizes"),
    ),
    CheckOption(
        "ram_bw",
        "--ram-bw",
        "RAM bandwidth for offload speeds: 460GB/s or a setup such as 12xDDR5-4800 (default: 2xDDR4-3200).",
        metavar="RATE",
        description='What-if system RAM bandwidth for the speed estimates, e.g. "400GB/s" (default: estimated).',
        parse=_estimate("ram_bw"),
    ),
    CheckOption(
        "disk_bw",
        "--disk-bw",
        "Disk read bandwidth for mmap speeds, e.g. 7GB/s (default: by kind).",
        metavar="RATE",
        description='What-if disk read bandwidth for the NVMe placement, e.g. "7GB/s" (default: estimated).',
        parse=_estimate("disk_bw"),
    ),
    CheckOption(
        "model_dir",
        "--model-dir",
        "Where the weights would go (default: the Hugging Face cache).",
        metavar="PATH",
        into="model_dir",
        remote="fixed when the agent starts (--model-dir), not per request",
        callback=model_dir_of,
    ),
    CheckOption(
        "gpus",
        "--gpus",
        "What-if: replace the GPUs, e.g. 8xH100-80GB, 2x96GB, 4xRTX4090.",
        metavar="SPEC",
        description='What-if: replace the probed GPUs, e.g. "8xH100-80GB", "2x96GB", "4xRTX4090", '
        '"1xRTX4090,1xRTX3090", or "none" for a CPU-only machine.',
        parse=_gpus,
    ),
    CheckOption(
        "ram",
        "--ram",
        "What-if: replace system RAM, e.g. 512GB.",
        metavar="SIZE",
        description='What-if: replace the probed system RAM, e.g. "512GB" or "1TB".',
        parse=_ram,
    ),
    CheckOption("all_gpus", "--all-gpus", "Plan on every GPU, ignoring CUDA_VISIBLE_DEVICES.", kind="flag"),
    CheckOption(
        "free",
        "--free",
        "Grade on the GPUs' free memory now instead of their capacity (shared nodes).",
        kind="flag",
        description="Grade on the GPUs' free memory now instead of their capacity (a shared node, others running).",
        into="free",
    ),
    CheckOption(
        "no_calibration",
        "--no-calibration",
        "Ignore the speeds `verify` measured on this machine (its calibration store, and those an inventory "
        "carries): estimates alone.",
        kind="flag",
        description="Ignore the decode speeds `vram-advisor verify` measured on this machine: the estimates alone.",
    ),
    CheckOption(
        "models",
        "--model",
        "Plan this model's rows (packaged or imported, see models) instead of the default pair; repeatable.",
        kind="list",
        metavar="ID",
        into="models",
        remote="it plans the packaged models; --model names user profiles, which live with the person, not the agent",
    ),
    CheckOption(
        "repo",
        "--repo",
        "Judge the real download: the repo's files and sizes from the Hub drive the disk check (and the VRAM need "
        "when no --require row applies).",
        metavar="ORG/NAME",
        remote="an agent answers from this machine alone; it asks no network service for a caller",
    ),
    CheckOption(
        "revision",
        "--revision",
        "With --repo: a branch, tag or commit (default: main).",
        metavar="REV",
        parse=_revision,
        remote=_AS_REPO,
    ),
    CheckOption(
        "include",
        "--include",
        "With --repo: only files matching this glob, as hf download --include (repeatable), e.g. 'UD-Q2_K_XL/*'.",
        kind="list",
        metavar="GLOB",
        remote=_AS_REPO,
    ),
    CheckOption(
        "release",
        "--release",
        "Which release of the model to plan: preview, 0731 (V4-Flash), 0813 (V4-Pro); default: the newest "
        "official one. (--revision names a Hub git revision.)",
        metavar="NAME",
        description='Which release to judge: "0731" (V4-Flash), "0813" (V4-Pro) or "preview"; default the newest '
        "official.",
        parse=_release,
        into="release",
    ),
)
OPTIONS: Mapping[str, CheckOption] = {option.name: option for option in CHECK_OPTIONS}
#: The options the agents (HTTP ``/check``, the MCP ``check`` tool) take: those without a ``remote`` reason.
REMOTE_OPTIONS: tuple[CheckOption, ...] = tuple(option for option in CHECK_OPTIONS if option.remote is None)


def request_values(values: Mapping[str, object]) -> dict[str, Any]:
    """A front end's values by option name, as ``service.CheckRequest`` takes them: a repeatable option's list (or
    one value, or None) as a tuple."""
    return {name: _as_tuple(value) if OPTIONS[name].kind == "list" else value for name, value in values.items()}


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    assert isinstance(value, (list, tuple))
    return tuple(str(item) for item in value)


def ordered(options: Sequence[CheckOption], first: Sequence[str]) -> tuple[CheckOption, ...]:
    """``options`` with those named in ``first`` first, in that order, and the rest after in the table's order (a
    front end that listed its options in its own order before the table keeps that order for them)."""
    rank = {name: index for index, name in enumerate(first)}
    return tuple(sorted(options, key=lambda option: rank.get(option.name, len(rank))))
