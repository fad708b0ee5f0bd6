"""Checkpoints: plain JSON with a SHA-256 checksum, written atomically (temp file + rename).

Nothing here unpickles anything: a checkpoint from an untrusted source can at worst be refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

FORMAT = "feedback-loop-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt or not ours; the message says which."""


def _digest(state: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(handle)`` on a temp file, fsync it and rename it over ``path``: readers see
    either the old file or the new one, never a torn one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    payload = {"format": FORMAT, "version": VERSION, "sha256": _digest(state), "state": state}
    atomic_write_text(path, json.dumps(payload))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state saved by ``save_checkpoint``; ``CheckpointError`` if it is corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}; is this a feedback-loop run directory?")
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt (not valid JSON: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a feedback-loop checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has version {payload.get('version')!r}; this feedback-loop reads version {VERSION}"
        )
    state = payload.get("state")
    if not isinstance(state, dict) or payload.get("sha256") != _digest(state):
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt (checksum mismatch)")
    return state
