"""Placeholder while this subcommand is being written (replaced in the same change)."""

from __future__ import annotations

import argparse


def add_command(sub: "argparse._SubParsersAction") -> None:
    pass
