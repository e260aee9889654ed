"""Secrets never leave the machine: environment values, URLs and anything that looks like a credential.

The one redactor of the program: ``doctor``'s report, the Hub client's errors and warnings, and every URL a command
prints (``redact_url``: no userinfo, no query string, no fragment; a ``HF_ENDPOINT`` such as
``https://user:hf_...@mirror/?token=hf_...`` is shown as ``https://<redacted>@mirror/?<redacted>``).

Three layers: (1) environment variables whose name looks secret (``*TOKEN*``, ``*KEY*``, ``*SECRET*``,
``*PASSWORD*``, ``*CREDENTIAL*``, ``*AUTH*``...) are shown as ``<redacted>``; (2) every string in the report has
credentials in URLs (``https://user:pass@host``), ``password=...``-style pairs and well-known token shapes
(Hugging Face ``hf_...``, GitHub, OpenAI-style ``sk-...``, AWS access key ids, Slack, GitLab, JWTs, bearer
tokens) replaced; (3) the exact value of every secret-named variable in the whole environment is replaced wherever
it appears (a token inside a path or a mount option).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"

SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|KEY|AUTH|COOKIE|SESSION|SIGNATURE|PRIVATE",
    re.IGNORECASE,
)
#: Variables that matter for the probe (shown in doctor, values redacted when the name looks secret).
RELEVANT_NAME = re.compile(
    r"^(CUDA_|NVIDIA_|NVML_|HIP_|ROCR_|ROCM_|HSA_|GPU_DEVICE_ORDINAL$|ZE_|ONEAPI_|HF_|HUGGING|TRANSFORMERS_CACHE$|"
    r"XDG_CACHE_HOME$|SLURM_(JOB_ID|JOB_GPUS|STEP_GPUS|GPUS|MEM_PER|CPUS|NTASKS|JOB_NODELIST)|RAY_|"
    r"KUBERNETES_SERVICE_HOST$|OMP_NUM_THREADS$|VRAM_ADVISOR_|LD_LIBRARY_PATH$|PYTORCH_CUDA_ALLOC_CONF$|"
    r"CONTAINER$|container$|HAMI_|MIG_)"
)
#: Always listed, as "(not set)" when absent, so a report shows what was not set.
KEY_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "NVIDIA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "HF_HOME",
    "HF_HUB_CACHE",
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@"), rf"\1{REDACTED}@"),
    # the query string of a URL in free text (``?token=...``, a signed URL's ``X-Amz-Signature``)
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s?#'\"]*)\?[^\s#'\"]+"), rf"\1?{REDACTED}"),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|pass|secret|token|api[_-]?key|access[_-]?key|auth)(\s*[=:]\s*)([^\s,;&'\"]+)"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), f"Bearer {REDACTED}"),
    (re.compile(r"\bhf_[A-Za-z0-9]{10,}"), REDACTED),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
)

#: Secret values shorter than this are not searched for in free text (``1`` or ``true`` would match everywhere).
MIN_SECRET_LENGTH = 6


def redact_url(url: str) -> str:
    """``url`` as it may be printed: userinfo, query string and fragment replaced by ``<redacted>``, control
    characters escaped, never an exception.

    Read by hand rather than with ``urlsplit`` (which refuses ``http://[::1`` and splits ``user:pa/ss@host`` at the
    ``/``): everything up to the last ``@`` after the scheme is userinfo, so no part of a password can be shown."""
    from vram_advisor.core.jsonread import clean_text

    scheme, sep, rest = url.partition("://")
    if not sep:
        return clean_text(scrub_text(url))
    if "@" in rest:
        rest = f"{REDACTED}@{rest.rpartition('@')[2]}"
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    tail = rest[cut:]
    shown = f"{scheme}://{rest[:cut]}"
    if tail.startswith("?"):
        shown += f"?{REDACTED}"
    if "#" in tail:
        shown += f"#{REDACTED}"
    return clean_text(scrub_text(shown))


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def scrub_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with credentials replaced by ``<redacted>``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Values of every secret-named variable (longest first, so a longer secret is replaced whole).

    File paths (``XAUTHORITY=/home/me/.Xauthority``) are left out: they are not secrets, and replacing them would
    garble every path in the report that shares them.
    """
    values = {
        value
        for name, value in environ.items()
        if is_secret_name(name) and len(value) >= MIN_SECRET_LENGTH and not value.startswith(("/", "~"))
    }
    return tuple(sorted(values, key=len, reverse=True))


def relevant_environment(environ: Mapping[str, str]) -> dict[str, str | None]:
    """The variables that bear on the probe, secrets as ``<redacted>``; key variables as None when unset."""
    shown: dict[str, str | None] = {name: None for name in KEY_VARIABLES}
    for name in sorted(environ):
        if RELEVANT_NAME.match(name):
            value = environ[name]
            shown[name] = REDACTED if is_secret_name(name) else redact_url(value) if "://" in value else value
    return shown


def scrub(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """A copy of a JSON-ready value with every string scrubbed (keys too)."""
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub_text(str(key), secrets): scrub(item, secrets) for key, item in value.items()}
    return value
