"""Units: the one place where sizes are parsed, converted and formatted.

Everything inside the program is an integer number of bytes (or tokens). Three readings of "GB" exist and each has
its own function here, so no other module multiplies by 1000 or 1024:

* **Memory sizes typed by a user** (``--ram 512GB``, ``--gpus 2x96GB``, ``81559MiB``): ``parse_size``. Memory is
  sold in binary units (an "80GB" card or a "512GB" server holds GiB), so ``GB``/``TB``/``MB`` are read as JEDEC
  binary units, exactly like ``GiB``/``TiB``/``MiB``.
* **VRAM figures of the article's tables** ("96GB", "1TB", "1.2TB+"): ``table_vram_bytes``. Contract rule 1: "N GB"
  is N GiB of nominal card capacity and "1TB" is 1024 GB.
* **File sizes** (weights on disk, GGUF downloads: "159.61GB"): ``file_size_bytes``. Files are measured in decimal
  gigabytes (the official V4-Flash checkpoint of 159.61 GB is logged by vLLM as 148.66 GiB).

A machine *meets* a table figure when it has at least 98% of it (``meets``), because NVML reports a nominal 80 GB
card as 79.6 GiB, less its reserved memory.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from vram_advisor.core.numbers import shown, too_many_digits

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4
GB_DECIMAL = 10**9

#: Contract rule 1: a machine meets a table figure at 98% of it (numerator / denominator, integer arithmetic).
MEETS_NUMERATOR = 98
MEETS_DENOMINATOR = 100

_BINARY_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": KIB,
    "kb": KIB,
    "kib": KIB,
    "m": MIB,
    "mb": MIB,
    "mib": MIB,
    "g": GIB,
    "gb": GIB,
    "gib": GIB,
    "t": TIB,
    "tb": TIB,
    "tib": TIB,
}

_TOKEN_UNITS: dict[str, int] = {"": 1, "k": 1024, "m": 1024**2}

_NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*(\+?)\s*$")

#: Largest size the parser accepts (1 EiB): anything larger is a typo, not a machine.
MAX_SIZE_BYTES = 1024**6
#: Largest context the parser accepts.
MAX_TOKENS = 1024**3


class SizeError(ValueError):
    """A size or token count could not be read. The message says what was expected."""


def _split(text: str, what: str) -> tuple[Decimal, str, bool]:
    if not isinstance(text, str):
        raise SizeError(f"expected {what} as text, got {type(text).__name__}")
    long_number = too_many_digits(text)
    if long_number is not None:  # before the pattern and Decimal see it: a size or a count of 5,000 digits is junk
        raise SizeError(f"{shown(text)}: {long_number}")
    match = _NUMBER_UNIT.match(text)
    if match is None:
        raise SizeError(f"{shown(text)} is not {what}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets decimals through
        raise SizeError(f"{shown(text)} is not {what}") from exc
    return number, match.group(2).lower(), bool(match.group(3))


def parse_size(text: str) -> int:
    """Read a memory size typed by a user ("96GB", "1.5TiB", "81559MiB", "512g", "1024B") as integer bytes.

    GB/TB/MB are binary (JEDEC), like GiB/TiB/MiB: see the module docstring. A unit is required ("B" for bytes).
    """
    number, unit, plus = _split(text, 'a size such as "96GB", "1.5TiB" or "81559MiB"')
    if plus:
        raise SizeError(f"{shown(text)} is not a size: drop the '+'")
    if not unit:
        # "--ram 512" is far more likely to mean 512 GB than 512 bytes: refuse rather than guess
        number_text = text.strip()
        raise SizeError(f"{shown(text)} has no unit: write e.g. {number_text}GB, {number_text}GiB or {number_text}B")
    if unit not in _BINARY_UNITS:
        raise SizeError(f"{shown(text)} has an unknown unit {unit!r} (use B, MiB/MB, GiB/GB or TiB/TB)")
    value = number * _BINARY_UNITS[unit]
    if value > MAX_SIZE_BYTES:
        raise SizeError(f"{shown(text)} is larger than any machine (limit 1 EiB)")
    return int(value.to_integral_value())


class ContextTooLongError(SizeError):
    """A token count beyond any model's context; the caller names the limit of the models in play."""


def parse_tokens(text: str) -> int:
    """Read a context length ("32768", "128k", "1M") as a token count; k = 1024 and M = 1024² as models count them."""
    number, unit, plus = _split(text, 'a token count such as "32768", "128k" or "1M"')
    if plus or unit not in _TOKEN_UNITS:
        raise SizeError(f"{shown(text)} is not a token count (use a number, or k / M such as 128k or 1M)")
    value = number * _TOKEN_UNITS[unit]
    if value != value.to_integral_value():
        raise SizeError(f"{shown(text)} is not a whole number of tokens")
    tokens = int(value)
    if tokens <= 0:
        raise SizeError(f"{shown(text)}: the context must be at least one token")
    if tokens > MAX_TOKENS:
        raise ContextTooLongError(f"{shown(text)} is longer than any model's context")
    return tokens


def table_gb(text: str) -> float:
    """The article's VRAM figure ("96GB", "1TB", "1.2TB+") as a number of table GB ("1TB" is 1024 GB)."""
    number, unit, _plus = _split(text, 'a table figure such as "96GB" or "1.2TB+"')
    if unit == "gb":
        return float(number)
    if unit == "tb":
        return float(number * 1024)
    raise SizeError(f"{shown(text)} is not a table figure (GB or TB)")


def table_vram_bytes(text: str) -> int:
    """The article's VRAM figure in bytes: N GB of the table is N GiB of nominal capacity (contract rule 1)."""
    number, unit, _plus = _split(text, 'a table figure such as "96GB" or "1.2TB+"')
    if unit == "gb":
        return int((number * GIB).to_integral_value())
    if unit == "tb":
        return int((number * 1024 * GIB).to_integral_value())
    raise SizeError(f"{shown(text)} is not a table figure (GB or TB)")


def table_weights_gb(text: str) -> float:
    """The article's weight size ("159.61GB", "1205GB") as decimal GB."""
    number, unit, _plus = _split(text, 'a weight size such as "159.61GB"')
    if unit == "gb":
        return float(number)
    if unit == "tb":
        return float(number * 1000)
    raise SizeError(f"{shown(text)} is not a weight size (GB or TB)")


def file_size_bytes(gb: float) -> int:
    """A file size given in decimal GB (the table's weights, published GGUF sizes) as bytes."""
    return int(Decimal(str(gb)) * GB_DECIMAL)


def vram_gb_bytes(gb: float) -> int:
    """A table VRAM figure already read as a number of GB (e.g. 1228.8 for "1.2TB+") as bytes (GiB)."""
    return int((Decimal(str(gb)) * GIB).to_integral_value())


def meets(available_bytes: int, required_bytes: int) -> bool:
    """Contract rule 1: ``available`` meets a figure when it is at least 98% of it."""
    return available_bytes * MEETS_DENOMINATOR >= required_bytes * MEETS_NUMERATOR


def meets_threshold(required_bytes: int) -> int:
    """The least memory that ``meets`` ``required_bytes`` (98% of it, rounded up)."""
    return -(-required_bytes * MEETS_NUMERATOR // MEETS_DENOMINATOR)


def shortfall_bytes(available_bytes: int, required_bytes: int) -> int:
    """How many more bytes ``available`` needs to meet ``required`` (by the 98% rule of ``meets``); 0 if it does."""
    return max(0, meets_threshold(required_bytes) - available_bytes)


def gib(value_bytes: int) -> float:
    """Bytes as GiB (for display only)."""
    return value_bytes / GIB


def format_gib(value_bytes: int | None, digits: int = 1) -> str:
    """Memory as people read it (contract rule 12: GiB for memory): "79.2 GiB"; from 1 TiB on "1.10 TiB" (two
    decimals, so a tenth of a GiB is not lost to the larger unit); "unknown" for None."""
    if value_bytes is None:
        return "unknown"
    if value_bytes >= TIB:
        return f"{value_bytes / TIB:.{max(digits, 2)}f} TiB"
    return f"{value_bytes / GIB:.{digits}f} GiB"


def format_gb(gb: float) -> str:
    """A table figure in GB as the article writes it: 96 -> "96 GB", 1024 -> "1 TB", 1228.8 -> "1.2 TB"."""
    if gb >= 1024:
        tb = gb / 1024
        return f"{tb:g} TB" if math.isclose(tb, round(tb, 1)) else f"{gb:g} GB"
    return f"{gb:g} GB"


def format_file_gb(value_bytes: int | None) -> str:
    """Bytes as decimal GB, for file sizes ("159.6 GB")."""
    if value_bytes is None:
        return "unknown"
    return f"{value_bytes / GB_DECIMAL:.1f} GB"


def table_text(value_bytes: int) -> str:
    """Bytes as a table VRAM figure ("97.3GB" = GiB of card capacity), rounded up to 0.1: ``table_vram_bytes``'
    inverse, for rows derived from a size (derive.py)."""
    tenths = -(-value_bytes * 10 // GIB)
    return f"{Decimal(tenths) / 10}GB"


def weights_text(value_bytes: int) -> str:
    """A file size as a table weight figure in decimal GB ("159.61GB"), rounded up to 0.01."""
    hundredths = -(-value_bytes * 100 // GB_DECIMAL)
    return f"{Decimal(hundredths) / 100}GB"


# ------------------------------------------------------------------------------------------- bandwidths

#: Bandwidth units: rates are quoted in decimal units (NVIDIA's "3352 GB/s" is 3.352e12 B/s), GiB/s in binary.
_RATE_UNITS: dict[str, int] = {
    "mb/s": 10**6,
    "gb/s": 10**9,
    "tb/s": 10**12,
    "mib/s": MIB,
    "gib/s": GIB,
    "tib/s": TIB,
}
# patterns used only by some commands are compiled on first use (re caches them), not at import
_RATE = r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]+?)\s*(?:/\s*s|ps)\s*$"
#: ``12xDDR5-4800``: channels x DDR generation - transfer rate in MT/s (each channel 64 bits = 8 bytes wide).
_DDR = r"^\s*(?:(\d+)\s*[x×*]\s*)?(?:LP)?DDR([345]X?)[- ]?(\d{3,5})\s*$"
#: Bytes a DDR channel moves per transfer (a 64-bit channel; JEDEC DDR4/DDR5 DIMM data width without ECC bits).
DDR_CHANNEL_BYTES = 8
#: Largest rate the parser accepts (1 PB/s): anything larger is a typo.
MAX_RATE_BYTES_PER_S = 10**15


def parse_bandwidth(text: str) -> int:
    """Read a bandwidth as bytes per second: "460GB/s", "7 GB/s", "900MB/s", "1.8TB/s", "50GiB/s", or a memory
    configuration "12xDDR5-4800" (channels x 8 bytes x MT/s: 460.8 GB/s). GB/s is decimal, as bandwidths are quoted."""
    if not isinstance(text, str):
        raise SizeError(f"expected a bandwidth as text, got {type(text).__name__}")
    long_number = too_many_digits(text)
    if long_number is not None:
        raise SizeError(f"{shown(text)}: {long_number}")
    ddr = re.match(_DDR, text, re.IGNORECASE)
    if ddr is not None:
        channels = int(ddr.group(1)) if ddr.group(1) else 1
        rate = channels * DDR_CHANNEL_BYTES * int(ddr.group(3)) * 10**6
        if channels < 1 or rate <= 0:
            raise SizeError(f"{shown(text)}: the channel count and transfer rate must be positive")
        return rate
    match = re.match(_RATE, text, re.IGNORECASE)
    if match is None:
        raise SizeError(
            f'{shown(text)} is not a bandwidth (use e.g. "460GB/s", "7GB/s", "900MB/s" or a memory setup such as "12xDDR5-4800")'
        )
    unit = match.group(2).lower() + "/s"
    if unit not in _RATE_UNITS:
        raise SizeError(f"{shown(text)} has an unknown unit {match.group(2)!r} (use MB/s, GB/s, TB/s, MiB/s or GiB/s)")
    value = Decimal(match.group(1)) * _RATE_UNITS[unit]
    if value <= 0:
        raise SizeError(f"{shown(text)}: a bandwidth must be larger than zero")
    if value > MAX_RATE_BYTES_PER_S:
        raise SizeError(f"{shown(text)} is faster than any memory (limit 1 PB/s)")
    return int(value.to_integral_value())


def format_bandwidth(bytes_per_s: int | None) -> str:
    """Bytes per second as "460.8 GB/s" (decimal, as bandwidths are quoted), or "unknown"."""
    if bytes_per_s is None:
        return "unknown"
    if bytes_per_s >= 10**12:
        return f"{bytes_per_s / 10**12:.2f} TB/s"
    if bytes_per_s >= 10**9:
        return f"{bytes_per_s / 10**9:.1f} GB/s"
    return f"{bytes_per_s / 10**6:.0f} MB/s"


def format_tokens(tokens: int) -> str:
    """A token count as people write it: 1048576 -> "1M", 131072 -> "128k", 32768 -> "32k", 1000 -> "1,000"."""
    if tokens >= 1024**2 and tokens % 1024**2 == 0:
        return f"{tokens // 1024**2}M"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    return f"{tokens:,}"


# ------------------------------------------------------------------------------------ Kubernetes quantities

#: Kubernetes resource quantity suffixes (k8s.io/apimachinery ``resource.Quantity``): binary ones are powers of
#: 1024, decimal ones powers of 1000 ("k" is lower case; "m" is milli, not mega).
_K8S_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "Ki": Decimal(KIB),
    "Mi": Decimal(MIB),
    "Gi": Decimal(GIB),
    "Ti": Decimal(TIB),
    "Pi": Decimal(1024**5),
    "Ei": Decimal(1024**6),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
_K8S_QUANTITY = r"^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]{1,3})|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"


def parse_k8s_quantity(text: str) -> int:
    """A Kubernetes memory quantity ("2113459340Ki", "1Ti", "900Gi", "16G", "129e6") as integer bytes.

    Binary suffixes (Ki, Mi, Gi, ...) are powers of 1024 and decimal ones (k, M, G, ...) powers of 1000, as
    Kubernetes defines them; a fraction of a byte rounds up, as Kubernetes rounds quantities.
    """
    if not isinstance(text, str):
        raise SizeError(f"expected a Kubernetes quantity as text, got {type(text).__name__}")
    long_number = too_many_digits(text)
    if long_number is not None:
        raise SizeError(f"{shown(text)}: {long_number}")
    match = re.match(_K8S_QUANTITY, text.strip())
    if match is None:
        raise SizeError(f"{shown(text)} is not a Kubernetes quantity (such as 2113459340Ki, 512Gi or 16G)")
    number = Decimal(match.group(1))
    if match.group(2) is not None:
        number = number.scaleb(int(match.group(2)))
    else:
        number *= _K8S_SUFFIXES[match.group(3) or ""]
    if number > MAX_SIZE_BYTES:
        raise SizeError(f"{shown(text)} is larger than any machine (limit 1 EiB)")
    return int(number.to_integral_value(rounding="ROUND_CEILING"))
