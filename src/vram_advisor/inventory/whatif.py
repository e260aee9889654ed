"""What-if overrides: ``--gpus SPEC`` and ``--ram SIZE`` replace what the probe saw, before planning.

``--gpus`` takes comma-separated ``[COUNTx]CARD`` or ``[COUNTx]SIZE`` items: ``8xH100-80GB``, ``2x96GB``,
``4xRTX4090``, ``1xRTX4090,1xRTX3090``. Card names resolve to NVML's real totals and compute capability
(``cards``); plain sizes are taken at their value (``units.parse_size``: GB is read as the card's nominal GiB, like
the article's tables). Apple Silicon (``M3-Ultra-512GB``, ``M4-Max-128GB``, ``M2-Ultra-192GB``): one unified-memory
GPU whose budget is macOS's default GPU wired limit (``apple.default_budget``), and, unless ``--ram`` says
otherwise, the chip's memory as the machine's RAM. AMD APUs (``AI-Max-395-128GB``, ``Strix-Halo-64GB``): the same, with
AMD's Variable Graphics Memory limit, 3/4 of the memory, as the budget (``apu.default_budget``), or the GTT the what-if
states (``AI-Max-395-128GB:gtt=110GB``).
"""

from __future__ import annotations

import re

from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import NumberError, parse_int, shown, too_many_digits
from vram_advisor.core.policy import OS_RESERVE_MIN_BYTES
from vram_advisor.inventory.model import Gpu, Inventory, Ram, Vendor

MAX_GPUS = 4096
#: What a wired limit must leave to macOS itself: our policy's floor for the OS (core/policy.py).
MACOS_KEEPS_BYTES = OS_RESERVE_MIN_BYTES
_ITEM = re.compile(r"^\s*(?:(\d+)\s*[x×*]\s*)?(.+?)\s*$", re.IGNORECASE)


def parse_gpus(spec: str) -> tuple[Gpu, ...]:
    """The GPUs a ``--gpus`` spec describes (empty for ``none`` or ``0``)."""
    text = spec.strip()
    if text.lower() in ("none", "0", "cpu"):
        return ()
    gpus: list[Gpu] = []
    for item in text.split(","):
        long_number = too_many_digits(item)
        if long_number is not None:  # before any pattern or int() reads it
            which = f": {shown(item.strip())}" if item.strip() != text else ""
            raise UsageError(f"--gpus {shown(spec)}{which}: {long_number}")
        match = _ITEM.match(item)
        if not item.strip() or match is None or "\n" in item:
            raise UsageError(
                f"--gpus {shown(spec)}: {shown(item.strip())} is not COUNTxCARD or COUNTxSIZE; expected e.g. "
                "8xH100-80GB, 2x96GB or 4xRTX4090"
            )
        try:
            count = parse_int(match.group(1)) if match.group(1) else 1
        except NumberError as exc:
            raise UsageError(f"--gpus {shown(spec)}: a count must be between 1 and {MAX_GPUS}: {exc}") from None
        if not 1 <= count <= MAX_GPUS:
            raise UsageError(f"--gpus {shown(spec)}: a count must be between 1 and {MAX_GPUS}, got {count}")
        gpus.extend(_describe(match.group(2), spec) for _ in range(count))
        if len(gpus) > MAX_GPUS:
            raise UsageError(f"--gpus {shown(spec)}: more than {MAX_GPUS} GPUs")
    if any(gpu.vendor == "apple" for gpu in gpus) and len(gpus) > 1:
        raise UsageError(
            f"--gpus {shown(spec)}: an Apple chip's GPU is the whole machine's memory: name one chip (M4-Max-128GB), "
            "not several or one beside other GPUs (one engine cannot pool Macs or a Mac and a card)"
        )
    if any(gpu.vendor == "amd" and gpu.unified for gpu in gpus) and len(gpus) > 1:
        raise UsageError(
            f"--gpus {shown(spec)}: an AMD APU's GPU is the whole machine's memory: name one chip (AI-Max-395-128GB), "
            "not several or one beside other GPUs"
        )
    if any(gpu.unified for gpu in gpus) and len({gpu.name for gpu in gpus}) > 1:
        raise UsageError(
            f"--gpus {shown(spec)}: a unified-memory GPU (GB10) is its machine's memory: not beside other GPUs (two "
            "DGX Sparks, 2xGB10, are the one pairing people run)"
        )
    return tuple(gpu.replace(index=i) for i, gpu in enumerate(gpus))


#: What each limit after a chip is, and an example (the messages of ``limit_after_chip``).
WIRED_WORDS = ("the GPU budget set with sudo sysctl iogpu.wired_limit_mb", "M4-Max-128GB:wired=110GB")
GTT_WORDS = ("the GPU memory the driver allows, mem_info_gtt_total", "AI-Max-395-128GB:gtt=110GB")


def limit_after_chip(extra: str, key: str, memory: int, keeps: int, spec: str, where: tuple[str, str]) -> int:
    """The GPU budget a what-if states after a chip with unified memory: ``wired=SIZE`` for Apple (the limit set with
    ``sudo sysctl iogpu.wired_limit_mb``), ``gtt=SIZE`` for an AMD APU (Linux's GTT: ``amd-ttm``,
    ``ttm.pages_limit``); above 0 and leaving the system at least ``keeps`` of the machine's ``memory``. ``where``
    says what the limit is and gives an example, for the message."""
    what, example = where
    name, sep, value = extra.partition("=")
    if name.strip().lower() != key or not sep:
        raise UsageError(
            f"--gpus {shown(spec)}: {shown(extra)} after the chip is not {key}=SIZE ({what}), e.g. {example}"
        )
    try:
        budget = units.parse_size(value)
    except units.SizeError as exc:
        raise UsageError(f"--gpus {shown(spec)}: {key}: {exc}") from None
    if not 0 < budget <= memory - keeps:
        raise UsageError(
            f"--gpus {shown(spec)}: a {'wired limit' if key == 'wired' else 'GTT'} of {shown(value.strip())} must be "
            f"above 0 and leave {'macOS' if key == 'wired' else 'the OS'} at least {units.format_gib(keeps)} of the "
            f"machine's {units.format_gib(memory)} (at most {units.format_gib(memory - keeps)})"
        )
    return budget


def _apu_gpu(token: str, spec: str) -> Gpu | None:
    """The unified GPU of an AMD APU named in ``--gpus`` (None when the token names none), with AMD's Variable
    Graphics Memory limit as its budget, or the GTT the what-if states (``:gtt=SIZE``). Without a memory size it is
    bad input: the budget depends on it."""
    from vram_advisor.inventory import apu

    base, colon, extra = token.partition(":")
    found = apu.parse_token(base)
    if found is None:
        return None
    chip, memory_gb = found
    if memory_gb is None or memory_gb not in chip.memory_gb:
        raise UsageError(f"--gpus {shown(spec)}: say the memory of the {chip.name}: {apu.sizes(chip)}")
    memory = memory_gb * units.GIB
    if colon:
        budget = limit_after_chip(extra, "gtt", memory, OS_RESERVE_MIN_BYTES, spec, GTT_WORDS)
        how = "the GTT the what-if sets (amd-ttm, ttm.pages_limit)"
    else:
        budget = apu.default_budget(memory)
        how = "AMD's Variable Graphics Memory limit (3/4 of the memory; raise Linux's GTT with amd-ttm)"
    return _unified_gpu(apu.gpu_name(chip, memory_gb), "amd", memory_gb, budget, how)


def _apple_gpu(token: str, spec: str) -> Gpu | None:
    """The unified GPU of an Apple chip named in ``--gpus`` (None when the token names no chip), with macOS's
    default wired limit as its budget, or the one the what-if states (``:wired=SIZE``)."""
    from vram_advisor.inventory import apple

    base, colon, extra = token.partition(":")
    found = apple.parse_token(base)
    if found is None:
        return None
    chip, memory_gb = found
    if memory_gb is None or memory_gb not in chip.memory_gb:
        raise UsageError(f"--gpus {shown(spec)}: say the memory of the {chip.name}: {apple.sizes(chip)}")
    ram = memory_gb * units.GIB
    if colon:
        budget = limit_after_chip(extra, "wired", ram, MACOS_KEEPS_BYTES, spec, WIRED_WORDS)
        how = "the wired limit the what-if sets (sudo sysctl iogpu.wired_limit_mb)"
    else:
        budget = apple.default_budget(ram)
        how = (
            f"macOS's default wired limit ({apple.budget_share_words(ram)} of RAM; raise it with sudo sysctl "
            "iogpu.wired_limit_mb=<MiB>)"
        )
    return _unified_gpu(apple.gpu_name(chip, memory_gb), "apple", memory_gb, budget, how)


def _unified_gpu(name: str, vendor: Vendor, memory_gb: int, budget: int, how: str) -> Gpu:
    """A what-if chip's GPU: unified memory of ``memory_gb`` GB, of which ``budget`` bytes are the GPU's (``how``
    says whose limit that is)."""
    return Gpu(
        name=name,
        vendor=vendor,
        memory_total_bytes=budget,
        memory_reserved_bytes=0,
        unified=True,
        notes=(f"unified memory: {memory_gb} GB shared with the CPU; GPU budget {units.format_gib(budget)}, {how}",),
    )


def _describe(token: str, spec: str) -> Gpu:
    from vram_advisor.inventory import apple, apu, cards  # only for --gpus

    base, colon, _extra = token.partition(":")
    if colon and apple.parse_token(base) is None and apu.parse_token(base) is None:
        raise UsageError(
            f"--gpus {shown(spec)}: {shown(token.strip())}: wired=SIZE is for Apple chips (macOS's GPU wired limit, e.g. "
            "M4-Max-128GB:wired=110GB); a card's memory is its own"
        )

    card = cards.lookup(token)
    if card is not None:
        return Gpu(
            name=card.nvml_name,
            vendor=card.vendor,
            memory_total_bytes=card.total_bytes,
            memory_reserved_bytes=card.reserved_bytes,
            unified=card.unified,
            compute_capability=card.compute_capability,
        )
    chip = _apple_gpu(token, spec) or _apu_gpu(token, spec)
    if chip is not None:
        return chip
    choices = cards.ambiguity(token)
    if choices:
        raise UsageError(f"--gpus {shown(spec)}: {shown(token)} is ambiguous, say {choices}")
    try:
        size = units.parse_size(token)
    except units.SizeError as exc:
        if token.strip()[:1].isdigit() or token.strip()[:1] == ".":  # meant as a size: say what is wrong with it
            raise UsageError(f"--gpus {shown(spec)}: {exc}") from None
        raise UsageError(
            f"--gpus {shown(spec)}: unknown GPU {shown(token)}; use a size (2x96GB), a card ({cards.known_names()}) or an "
            "Apple chip (M3-Ultra-512GB, M4-Max-128GB, M5-Max-128GB:wired=110GB, M5-32GB, ...) or an AMD APU "
            f"({apu.known_names()}, AI-Max-395-128GB:gtt=110GB)"
        ) from None
    if size <= 0:
        raise UsageError(f"--gpus {shown(spec)}: a GPU needs more than 0 bytes of memory")
    return Gpu(name=f"GPU with {token.strip()}", memory_total_bytes=size)


def describe(spec: str) -> str:
    """One note saying what a ``--gpus`` spec was read as (card readings and their source)."""
    from vram_advisor.inventory import apple, apu, cards

    read: list[str] = []
    nvidia = False
    for item in spec.split(","):
        match = _ITEM.match(item)
        token = match.group(2) if match else item.strip()
        card = cards.lookup(token)
        base, colon, extra = token.partition(":")
        chip = apple.parse_token(base)
        if card is not None:
            reserved = f", {card.reserved_mib} MiB reserved" if card.reserved_mib is not None else ", reserved unknown"
            reporter = "NVML" if card.vendor == "nvidia" else "the driver"
            read.append(f"{card.key} as {reporter} reports it ({card.total_mib} MiB{reserved})")
            nvidia = nvidia or card.vendor == "nvidia"
        elif chip is not None and chip[1] is not None and colon:
            ram = chip[1] * units.GIB
            read.append(
                f"Apple {chip[0].name} with {chip[1]} GB of unified memory, GPU budget "
                f"{units.format_gib(limit_after_chip(extra, 'wired', ram, MACOS_KEEPS_BYTES, spec, WIRED_WORDS))} (the wired limit it sets with sudo sysctl "
                "iogpu.wired_limit_mb)"
            )
        elif chip is not None and chip[1] is not None:
            ram = chip[1] * units.GIB
            read.append(
                f"Apple {chip[0].name} with {chip[1]} GB of unified memory, GPU budget "
                f"{units.format_gib(apple.default_budget(ram))} (macOS's default wired limit, "
                f"{apple.budget_share_words(ram)} of RAM; AlexsJones/llmfit#754, exo-explore/exo#1672)"
            )
        elif (found := apu.parse_token(base)) is not None and found[1] is not None:
            memory = found[1] * units.GIB
            budget = (
                limit_after_chip(extra, "gtt", memory, OS_RESERVE_MIN_BYTES, spec, GTT_WORDS)
                if colon
                else apu.default_budget(memory)
            )
            how = (
                "the GTT it sets"
                if colon
                else "AMD's Variable Graphics Memory limit, 3/4 of it; AMD's FAQs on Variable Graphics Memory"
            )
            read.append(
                f"AMD {found[0].name} with {found[1]} GB of unified memory, GPU budget {units.format_gib(budget)} "
                f"({how})"
            )
        else:
            read.append(f"{token} taken at its value")
    source = f" [{cards.SOURCE}]" if nvidia else ""
    return f"what-if --gpus {spec}: {'; '.join(read)}{source}"


def apple_memory_bytes(gpu: Gpu) -> int | None:
    """The unified memory of an Apple or AMD APU what-if GPU, from its name ("... (512 GB unified memory)")."""
    match = re.search(r"[(, ](\d+) GB unified memory\)", gpu.name)
    return int(match.group(1)) * units.GIB if match else None


def set_aside(measured: Inventory, inventory: Inventory, what: str) -> Inventory:
    """``inventory`` (``measured`` with a what-if applied) without the bandwidths ``probe --measure`` measured on
    ``measured``: the what-if (``what``) plans another machine, so the class defaults apply (``bandwidth``). Each
    figure set aside leaves a reading without a figure whose ``method`` says so, and the inventory a note."""
    from vram_advisor.inventory.model import BandwidthReading

    def aside(reading: BandwidthReading | None) -> BandwidthReading | None:
        if reading is None or not reading.bytes_per_s:
            return reading
        words = f"probe --measure's {units.format_bandwidth(reading.bytes_per_s)} set aside: what-if {what}"
        return BandwidthReading(method=f"{words} plans another machine")

    ram = aside(measured.ram.bandwidth)
    disks = tuple(disk.replace(read_bandwidth=aside(disk.read_bandwidth)) for disk in inventory.disks)
    if ram is None and disks == inventory.disks:
        return inventory
    return inventory.replace(
        ram=inventory.ram.replace(bandwidth=ram),
        disks=disks,
        notes=(
            *inventory.notes,
            f"what-if {what}: RAM and disk bandwidths are the class defaults, not the figures probe --measure measured "
            "on this machine (they describe its memory, not the what-if's)",
        ),
    )


def apply(inventory: Inventory, gpus: str | None = None, ram: str | None = None) -> Inventory:
    """The inventory with ``--gpus`` and ``--ram`` applied (each replaces what was probed or loaded; measured
    bandwidths give way to the class defaults: ``set_aside``)."""
    measured = inventory
    if gpus is not None:
        # the probe's notes about GPUs (e.g. "no NVIDIA driver") no longer describe the GPUs being judged
        kept = tuple(note for note in inventory.notes if not note.startswith("NVML"))
        parsed = parse_gpus(gpus)
        inventory = inventory.replace(gpus=parsed, notes=(*kept, describe(gpus)))
        macs = [gpu for gpu in parsed if gpu.vendor == "apple" or (gpu.vendor == "amd" and gpu.unified)]
        if macs and ram is None:  # a Mac's (an APU's) RAM is the chip's memory: the budget is part of it, not added
            ram_bytes = apple_memory_bytes(macs[0])
            if ram_bytes is not None:
                inventory = inventory.replace(ram=Ram(total_bytes=ram_bytes, available_bytes=None, limit_bytes=None))
    if ram is not None:
        try:
            ram_bytes = units.parse_size(ram)
        except units.SizeError as exc:
            raise UsageError(f"--ram: {exc}") from None
        if ram_bytes <= 0:
            raise UsageError(f"--ram {shown(ram)}: a machine needs more than 0 bytes of RAM")
        inventory = inventory.replace(
            ram=Ram(total_bytes=ram_bytes, available_bytes=None, limit_bytes=None),
            notes=(*inventory.notes, f"what-if --ram {ram}: {units.format_gib(ram_bytes)} of system RAM"),
        )
    if gpus is not None or ram is not None:
        given = [f"--gpus {gpus}" if gpus is not None else "", f"--ram {ram}" if ram is not None else ""]
        inventory = set_aside(measured, inventory, " ".join(word for word in given if word))
    return inventory
