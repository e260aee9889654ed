"""The redactor ``doctor`` uses: it lives in ``core.redact`` (the Hub client and the CLI use the same one); the names
are re-exported here for the probe's callers."""

from __future__ import annotations

from vram_advisor.core.redact import (
    KEY_VARIABLES,
    MIN_SECRET_LENGTH,
    REDACTED,
    RELEVANT_NAME,
    SECRET_NAME,
    is_secret_name,
    redact_url,
    relevant_environment,
    scrub,
    scrub_text,
    secret_values,
)

__all__ = [
    "KEY_VARIABLES",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RELEVANT_NAME",
    "SECRET_NAME",
    "is_secret_name",
    "redact_url",
    "relevant_environment",
    "scrub",
    "scrub_text",
    "secret_values",
]
