"""``vram-advisor verify --url URL``: measure a running OpenAI-compatible engine from the client side, hold it against
the estimate for that model on this machine, and keep the measurement (the calibration store) so that later
``check``/``estimate`` runs here show it beside the estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vram_advisor.cli.app import InventoryOpt, JsonOpt, app
from vram_advisor.cli.common import console
from vram_advisor.render import warn, write_json

if TYPE_CHECKING:
    from vram_advisor.catalog.profiles import Catalog
    from vram_advisor.engine.session import Observation
    from vram_advisor.inventory.model import Inventory
    from vram_advisor.plan.estimate.placement import Placement
    from vram_advisor.plan.served import Mapping

#: The most tokens one verify asks for.
MAX_TOKENS = 4096
PLACEMENTS = ("gpu", "unified", "gpu+ram", "cpu", "nvme")


@app.command()
def verify(
    url: Annotated[
        str | None,
        typer.Option("--url", metavar="URL", help="The server, e.g. http://127.0.0.1:8080 (http or https)."),
    ] = None,
    as_option: Annotated[
        str | None,
        typer.Option("--as", metavar="MODEL:QUANT", help="The option the server runs, when it cannot be told."),
    ] = None,
    tokens: Annotated[
        str, typer.Option("--tokens", metavar="N", help="Tokens to stream (at most the server's context).")
    ] = "256",
    context: Annotated[
        str | None,
        typer.Option("--context", metavar="TOKENS", help="Context for the estimate (default: the server's)."),
    ] = None,
    placement: Annotated[
        str | None,
        typer.Option(
            "--placement", metavar="WHERE", help="Where the engine runs it: gpu, unified, gpu+ram, cpu or nvme."
        ),
    ] = None,
    served_model: Annotated[
        str | None, typer.Option("--served-model", metavar="ID", help="Which served model (default: the first).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="VRAM_ADVISOR_API_KEY",
            show_envvar=True,
            metavar="KEY",
            help="Sent as a Bearer token, to this server only (OPENAI_API_KEY is never read).",
        ),
    ] = None,
    timeout: Annotated[
        str, typer.Option("--timeout", metavar="SECONDS", help="Longest wait for any answer or token.")
    ] = "30",
    deadline: Annotated[
        str, typer.Option("--deadline", metavar="SECONDS", help="Most the streamed request may take in all.")
    ] = "300",
    inventory_path: InventoryOpt = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Measure, but keep nothing.")] = False,
    forget: Annotated[bool, typer.Option("--forget", help="Clear the calibration store and exit.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Measure a running engine (llama-server, vLLM, SGLang, ...) and hold it against the estimate here."""
    import os

    from vram_advisor.core.errors import UsageError
    from vram_advisor.inventory import calibration

    if forget:
        if url is not None:
            raise UsageError("--forget clears the store and measures nothing: give it without --url")
        path = calibration.store_path(os.environ)
        if path is None:
            raise UsageError("--forget: no safe folder for the calibration store (HOME is not an absolute folder)")
        try:
            gone = calibration.forget(path)
        except OSError as exc:
            raise UsageError(f"--forget: {path}: {exc}") from None
        warn(f"removed the calibration store {path}" if gone else f"no calibration store at {path}: nothing to clear")
        return
    if url is None:
        raise UsageError("verify needs --url URL: the server to measure (or --forget)")
    from vram_advisor.core.numbers import NumberError, parse_int, shown
    from vram_advisor.engine.http import Client, Limits, parse_url

    target = parse_url(url)
    if api_key and not (api_key.isascii() and api_key.isprintable() and " " not in api_key):
        raise UsageError("--api-key (or VRAM_ADVISOR_API_KEY): a key is printable ASCII without spaces (not shown)")
    try:
        asked = parse_int(tokens, 2, MAX_TOKENS)
    except NumberError:
        raise UsageError(f"--tokens {shown(tokens)}: expected a whole number from 2 to {MAX_TOKENS:,}") from None
    wait_s, deadline_s = _seconds("--timeout", timeout), _seconds("--deadline", deadline)
    if placement is not None and placement.strip().lower() not in PLACEMENTS:
        raise UsageError(f"--placement {shown(placement)}: expected one of {', '.join(PLACEMENTS)}")
    kind = placement.strip().lower() if placement is not None else None
    from vram_advisor.catalog.userprofiles import default_catalog

    catalog = default_catalog()
    forced = _forced(as_option, catalog)
    context_tokens = None
    if context is not None:
        from vram_advisor.options import parse_context

        context_tokens = parse_context(context)
    from vram_advisor.inventory import visibility
    from vram_advisor.service import CheckRequest, obtain_inventory

    inventory = visibility.apply(obtain_inventory(CheckRequest(inventory_path=inventory_path)), os.environ)
    here = inventory_path is None
    reader = None
    if here and target.local and any(gpu.vendor == "nvidia" for gpu in inventory.gpus):
        from vram_advisor.probe.gpumemory import used_bytes

        reader = used_bytes
    from vram_advisor.engine import session

    client = Client(target, Limits(wait_s=wait_s, deadline_s=deadline_s), api_key=api_key or None)
    observation = session.run(client, asked, served_model, reader)
    served = observation.served
    from vram_advisor.plan.served import map_served

    mapping: Mapping | None = forced
    mapping_reason = ""
    if mapping is None:
        mapping, mapping_reason = map_served(
            catalog, served.model_id, served.root, served.path, served.size_bytes, served.n_params
        )
    from vram_advisor.plan.check import DEFAULT_CONTEXT_TOKENS
    from vram_advisor.report.verify import default_placement, estimate_for, verify_document

    judged_context = context_tokens or served.context_tokens or DEFAULT_CONTEXT_TOKENS
    found, engine, estimate_reason = None, None, ""
    where = default_placement(kind, inventory)
    if mapping is not None:
        found, where, engine, estimate_reason = estimate_for(mapping, inventory, judged_context, kind, catalog)
    else:
        estimate_reason = "the served model is not mapped to a profile option (give --as MODEL:QUANT)"
    notes: list[str] = []
    stored = None
    speed = observation.measurement.decode_tokens_per_s
    if no_save:
        notes.append("not kept (--no-save)")
    elif mapping is None or speed is None:
        notes.append("not kept: " + ("no decode speed was measured" if speed is None else "the option is not known"))
    elif not here or not target.local:
        notes.append(
            "not kept: the store keeps speeds measured on this machine, of a server on it (a loopback --url, "
            "no --inventory)"
        )
    elif served.engine is None:
        notes.append("not kept: the server does not say which engine it is")
    elif not _placement_known(kind, where, inventory, found, observation):
        notes.append(
            f"not kept: say where the engine runs it with --placement (the estimate would put it on {where}, which "
            "the GPU memory in use does not confirm)"
        )
    else:
        stored = _store(inventory, mapping, where, served.engine, observation, judged_context, catalog)
    document = verify_document(
        target.url,
        observation,
        mapping,
        mapping_reason,
        found,
        engine,
        estimate_reason,
        judged_context,
        stored,
        tuple(notes),
    )
    if json_output:
        write_json(document)
        return
    from vram_advisor.render.human import print_view
    from vram_advisor.render.verify_view import verify_view

    print_view(verify_view(document), console())


def _seconds(option: str, text: str) -> float:
    from vram_advisor.core.errors import UsageError
    from vram_advisor.core.numbers import shown

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400 or value != value:
        raise UsageError(f"{option} {shown(text)}: expected seconds, more than 0 and at most 86,400")
    return value


def _forced(text: str | None, catalog: Catalog) -> Mapping | None:
    """``--as MODEL:QUANT`` as the mapping (the catalogue checks both exist)."""
    if text is None:
        return None
    from vram_advisor.plan.lineup import parse_requirement
    from vram_advisor.plan.served import Mapping

    model_id, quant_id = parse_requirement(text)
    model = catalog.model(model_id)
    model.quant(quant_id)
    return Mapping(model.id, quant_id, None, "--as")


def _placement_known(
    given: str | None, where: str, inventory: Inventory, found: Placement | None, observation: Observation
) -> bool:
    """Whether the placement a point is kept under is known: given (``--placement``); a machine without GPUs, where
    the estimate's CPU or NVMe placement is the only way it can run; or the GPUs' memory in use during the run
    holding at least 90% of the estimate's GPU share of an all-on-GPU placement."""
    if given is not None:
        return True
    if not inventory.visible_gpus:
        return where in ("cpu", "nvme")
    during = observation.gpu_memory_during
    return where == "gpu" and found is not None and during is not None and sum(during) >= 0.9 * found.gpu_bytes


def _store(
    inventory: Inventory,
    mapping: Mapping,
    kind: str,
    engine: str,
    observation: Observation,
    context: int,
    catalog: Catalog,
) -> dict[str, object] | None:
    """Keep the measurement in the calibration store: what it says about the store (or None, with a warning, where
    the store cannot be written: the measurement stands)."""
    import os
    import time

    from vram_advisor.inventory import calibration
    from vram_advisor.inventory.fingerprint import fingerprint
    from vram_advisor.inventory.model import MeasuredSpeed

    found = observation.measurement
    assert found.decode_tokens_per_s is not None
    path = calibration.store_path(os.environ)
    if path is None:
        warn("warning: not kept: no safe folder for the calibration store (HOME is not an absolute folder)")
        return None
    point = MeasuredSpeed(
        fingerprint=fingerprint(inventory),
        model=mapping.model,
        quant=mapping.quant,
        placement=kind,
        engine=engine,
        decode_tokens_per_s=round(found.decode_tokens_per_s, 3),
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        first_token_s=round(found.first_token_s, 4),
        tokens=found.tokens,
        context_tokens=context,
        engine_decode_tokens_per_s=None
        if found.engine_decode_tokens_per_s is None
        else round(found.engine_decode_tokens_per_s, 3),
        served_model=observation.served.model_id,
    )
    try:
        count, notes = calibration.add_point(point, path)
    except OSError as exc:
        warn(f"warning: not kept: the calibration store {path} cannot be written ({exc.strerror or exc})")
        return None
    for note in notes:
        warn(f"warning: {note}")
    return {
        "path": str(path),
        "points": count,
        "fingerprint": point.fingerprint,
        "placement": kind,
        "engine": engine,
        "shown_beside_estimate": engine in catalog.engines.engines,
    }
