"""Errors the user can fix: each carries a one-line message naming what is wrong and where, and an exit code.

Only ``cli`` turns them into output and exit codes; everything below raises them.
"""

from __future__ import annotations


class VramAdvisorError(Exception):
    """Base of every error meant for the user (never shown with a traceback unless --debug)."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(VramAdvisorError):
    """A bad option value (unknown model or quant, a malformed --gpus spec, a bad size)."""


class InventoryError(VramAdvisorError):
    """An inventory that cannot be read or does not follow schema vram-advisor/inventory/v1."""


class ProfileError(VramAdvisorError):
    """A model profile that cannot be read or breaks the profile schema."""


class HubError(VramAdvisorError):
    """The Hugging Face Hub could not answer (not found, gated, offline, timed out)."""
