"""``vram-advisor mcp``: a Model Context Protocol server over stdio for AI assistants.

Three read-only tools, each returning the contract's JSON (the same documents the CLI prints): ``probe``
(``probe --json``), ``check`` (``check --json``, with the what-ifs) and ``estimate`` (``estimate --json``).
Built on the ``mcp`` SDK's ``MCPServer`` (mcp >= 2; the optional extra ``vram-advisor[mcp]``). This module imports
the SDK at its top, so only ``cli/mcp_cmd.py`` imports it, inside the command and after checking the SDK is there.
The SDK's stdio transport runs over ``agent.mcp_wire``'s guarded streams, so every request gets an answer (a parse
error included) and no error quotes a huge input back.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from vram_advisor import __version__
from vram_advisor.agent.inventory_source import InventorySource
from vram_advisor.agent.mcp_wire import cut, guarded_stdio
from vram_advisor.core.errors import VramAdvisorError
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility, whatif
from vram_advisor.options import (
    OPTIONS,
    REMOTE_OPTIONS,
    CheckOption,
    ordered,
    parse_context,
    parse_users,
    request_values,
)
from vram_advisor.service import CheckRequest, check_json, run_check

Probe = InventorySource

# The tools' own parameter types (module level: the SDK resolves annotations in this module's namespace); the check
# options' come from the option table (``argument``).
#: The ``estimate`` tool's model argument; ``{models}`` is filled from the packaged profiles (``catalog_words``).
MODEL_DESCRIPTION = "Model id: {models}."
Quant = Annotated[str, Field(description="Quantization id: fp8, q6, q5, q4, q3 or q2 (q3 and q2 are experimental).")]
#: The ``check`` tool's arguments: the options an agent takes (``options.REMOTE_OPTIONS``), in the order the tool
#: has always listed them; options added since follow in the table's order.
CHECK_ARGUMENTS = ordered(
    REMOTE_OPTIONS,
    ("context", "base", "require", "allow_offload", "gpus", "ram", "all_gpus", "kv_dtype", "sizes", "free"),
)
#: The check options the ``estimate`` tool shares (the same descriptions as ``check``'s).
ESTIMATE_ARGUMENTS = ("context", "kv_dtype", "sizes", "gpus", "ram", "all_gpus", "users")
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def catalog_words() -> dict[str, str]:
    """The words tool descriptions take from the packaged profiles, not from code: ``models`` (the candidates, then
    the Base pair) and ``example`` (SMALL:q4)."""
    from vram_advisor.catalog.profiles import packaged_catalog

    lineup = packaged_catalog().candidates
    if lineup is None:
        return {"models": "see vram-advisor models", "example": "MODEL:q4"}
    ids = [*lineup.models, *lineup.base_models]
    return {"models": ", ".join(ids[:-1]) + " or " + ids[-1], "example": f"{lineup.models[1]}:q4"}


def described(text: str) -> str:
    """``text`` with its ``{models}`` and ``{example}`` filled from the profiles (``catalog_words``)."""
    if "{" not in text:
        return text
    for key, value in catalog_words().items():
        text = text.replace("{" + key + "}", value)
    return text


def argument(option: CheckOption) -> inspect.Parameter:
    """The tool argument of a check option: a bool for a flag, one of ``choices`` where it has them, else an optional
    string (a list of strings for a repeatable one); described by the table's MCP ``description`` (else its CLI
    help)."""
    field = Field(description=described(option.description or option.help))
    annotated: Any = Annotated  # built at run time from the table, as the SDK reads it
    if option.kind == "flag":
        return inspect.Parameter(option.name, _KEYWORD, default=False, annotation=annotated[bool, field])
    if option.choices:
        literal: Any = Literal
        kind = literal[option.choices]
        return inspect.Parameter(option.name, _KEYWORD, default=option.default, annotation=annotated[kind, field])
    if option.kind == "list":
        return inspect.Parameter(option.name, _KEYWORD, default=None, annotation=annotated[list[str] | None, field])
    text = str if option.default is not None else str | None
    return inspect.Parameter(option.name, _KEYWORD, default=option.default, annotation=annotated[text, field])


def _with_signature(
    function: Callable[..., dict[str, Any]], parameters: list[inspect.Parameter]
) -> Callable[..., dict[str, Any]]:
    """``function`` (which takes ``**arguments``) given the signature ``parameters``, as the SDK reads it."""
    function.__dict__["__signature__"] = inspect.Signature(parameters, return_annotation=dict[str, Any])
    function.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": dict[str, Any]}
    return function


INSTRUCTIONS = (
    "vram-advisor answers which DeepSeek V4 model and quantization a machine can run, from the published VRAM "
    "tables. Use `check` for the recommendation on this machine (or on a hypothetical one with gpus/ram), "
    "`check` with require=MODEL:QUANT before downloading weights, `probe` for the raw hardware inventory, and "
    "`estimate` for one option's memory breakdown. Sizes are integer bytes; table figures (*_gb) are the "
    "article's GB, read as GiB of nominal card capacity. Everything is read-only and local."
)

CHECK_DESCRIPTION = """\
Recommend which DeepSeek V4 model and quantization this machine can run (the `vram-advisor check --json` document).

Read `recommendation` first: kind "local" (runs from GPU memory), "offload" (needs system RAM beside the GPUs, slow)
or "api" (nothing fits: use the hosted API or a smaller model listed in alternatives.smaller_models); `model`,
`quant` and `fit` ("comfortable" or "minimum") say what to run. `options` lists every model x quant with its fit
(comfortable / minimum / offload / none) and table figures; `stretch` is a better option that only just loads;
`usable_vram_bytes` is the GPU memory counted. With `require`, `required.fits` answers whether that option fits
(and `required.reason` why not). Pass gpus/ram to ask about a machine you do not have ("would 8xH100 run V4-Pro
Q4?"). Safe to call repeatedly; it probes the hardware (GPUs through NVML, RAM, the model disk) and changes nothing.
"""

PROBE_DESCRIPTION = """\
The hardware inventory of this machine (the `vram-advisor probe --json` document, schema
vram-advisor/inventory/v1): each GPU's name, UUID, total / reserved / free memory in bytes and whether it counts
(`visible`, from CUDA_VISIBLE_DEVICES), system RAM (total, available, container limit), the disk under the model
directory, CPU count, and notes on anything that could not be read. Use it to explain a recommendation or to
report the machine; use `check` to decide what to run. Read-only.
"""

ESTIMATE_DESCRIPTION = """\
The memory breakdown of one option (the `vram-advisor estimate MODEL --quant Q --json` document): weights, KV cache
for the given context, runtime overhead and the total, per placement (all on GPUs, experts offloaded to RAM, CPU
only), with every assumption listed, judged against this machine (or the gpus/ram what-if). Use it after `check`
to answer "how long a context can I serve" or "how much RAM would offloading need". Read-only.
"""


def _answer(compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a tool's body; a user error becomes a ToolError carrying the CLI's one-line message, and a bug becomes
    a ToolError that says so (the assistant reads the text; a bare "Error executing tool" would tell it nothing)."""
    try:
        return compute()
    except ToolError:
        raise
    except VramAdvisorError as exc:
        raise ToolError(cut(" ".join(exc.message.split()))) from None
    except Exception as exc:
        detail = cut(" ".join(f"{exc.__class__.__name__}: {exc}".split()))
        raise ToolError(f"internal error: {detail} (a bug in vram-advisor; please report it)") from exc


def build_server(inventory_source: Probe, model_dir: str | None = None) -> MCPServer[Any]:
    """The MCP server with its three tools; ``inventory_source`` gives the machine's inventory on each call."""
    server: MCPServer[Any] = MCPServer(
        name="vram-advisor",
        title="vram-advisor: DeepSeek V4 fit for this machine",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

    def machine(gpus: str | None, ram: str | None, all_gpus: bool) -> inv.Inventory:
        return visibility.apply(whatif.apply(inventory_source(), gpus=gpus, ram=ram), _environ(), ignore=all_gpus)

    def probe(**arguments: Any) -> dict[str, Any]:
        all_gpus = arguments["all_gpus"]
        return _answer(lambda: inv.to_dict(visibility.apply(inventory_source(), _environ(), ignore=all_gpus)))

    server.tool(name="probe", title="Hardware inventory", description=PROBE_DESCRIPTION, annotations=read_only)(
        _with_signature(probe, [argument(OPTIONS["all_gpus"])])
    )

    def check(**arguments: Any) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            given = request_values(arguments)
            request = CheckRequest(inventory=inventory_source(), model_dir=model_dir, **given)
            return check_json(run_check(request, environ=_environ()))

        return _answer(compute)

    server.tool(name="check", title="What can this machine run?", description=CHECK_DESCRIPTION, annotations=read_only)(
        _with_signature(check, [argument(option) for option in CHECK_ARGUMENTS])
    )

    def estimate(*, model: str, quant: str, **arguments: Any) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            from vram_advisor.report.estimate import estimate_document

            gpus, ram, all_gpus = arguments["gpus"], arguments["ram"], arguments["all_gpus"]
            return estimate_document(
                model.strip().lower(),
                quant.strip().lower(),
                parse_context(arguments["context"]),
                inventory=lambda: machine(gpus, ram, all_gpus),  # probed only once the request is valid
                kv_dtype=arguments["kv_dtype"],
                sizes=arguments["sizes"],
                model_dir=model_dir,
                sequences=parse_users(arguments["users"]),
            )

        return _answer(compute)

    own = [
        inspect.Parameter(
            "model", _KEYWORD, annotation=Annotated[str, Field(description=described(MODEL_DESCRIPTION))]
        ),
        inspect.Parameter("quant", _KEYWORD, annotation=Quant),
    ]
    server.tool(
        name="estimate", title="Memory breakdown of one option", description=ESTIMATE_DESCRIPTION, annotations=read_only
    )(_with_signature(estimate, own + [argument(OPTIONS[name]) for name in ESTIMATE_ARGUMENTS]))

    return server


def _environ() -> dict[str, str]:
    return dict(os.environ)


def run(inventory_source: Probe, model_dir: str | None = None) -> None:
    """Serve over stdio until the client closes the connection; every request is answered (``agent.mcp_wire``).
    A stdout that cannot be written (full, closed) ends the session at the next read: exit 2 with one line; a
    client that went away (a broken pipe) ends it quietly."""
    server = build_server(inventory_source, model_dir)
    with guarded_stdio() as wire:
        server.run("stdio")
    if wire.broken is not None and not isinstance(wire.broken, BrokenPipeError):  # a client gone is no error
        reason = wire.broken.strerror or wire.broken.__class__.__name__
        raise VramAdvisorError(f"cannot write the output to stdout: {reason}")
