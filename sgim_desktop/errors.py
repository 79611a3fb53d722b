"""Errors a person can act on: each carries one line that says what is wrong and what to do."""

from __future__ import annotations


class SgimError(Exception):
    """Base of every error shown to a person as one line (CLI: status 2; window: a message)."""


class BadInputError(SgimError):
    """A sound, image or latent file that cannot be used."""


class CheckpointError(SgimError):
    """A checkpoint that is missing, damaged or of the wrong layout."""


class Cancelled(SgimError):
    """A long task stopped because the person asked it to."""
