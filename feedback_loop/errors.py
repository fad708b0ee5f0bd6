"""The base of errors a user can fix from the message alone."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or environment; the command line prints the message (one line) and exits with 2."""
