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

import numpy as np

FORMAT = "feedback-loop-checkpoint"
VERSION = 2  # 2: history in its own journal, state files named under "files"


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


CHECKPOINT_FILE = "checkpoint.json"
# A persistent learner's training state after step N is saved as learner_weights-N.npz (and, if step
# N is the best so far, as best_learner_weights-N.npz) just before the checkpoint that counts step N,
# which names the files; older files are deleted only after that checkpoint is written. A kill in
# between leaves checkpoint and files a pair: a resumed learner never trains twice on (or skips) a
# batch, and the best model always matches the checkpoint's best score.
PAIRED_FILES = {"weights_file": "learner_weights-{:06d}.npz", "best_weights_file": "best_learner_weights-{:06d}.npz"}
# A population's member m > 0 has its own field and files, paired the same way (member 0: weights_file).
MEMBER_FILES = "member{:03d}_learner_weights-{{:06d}}.npz"


def member_field(member: int) -> str:
    """The checkpoint field naming the state file of persistent member ``member``."""
    return "weights_file" if member == 0 else f"member{member}_weights_file"


def _pattern(field: str) -> str:
    if field in PAIRED_FILES:
        return PAIRED_FILES[field]
    member = field.removeprefix("member").removesuffix("_weights_file")
    if field.startswith("member") and field.endswith("_weights_file") and member.isdigit():
        return MEMBER_FILES.format(int(member))
    raise KeyError(f"no paired file field {field!r}")


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Arrays to an ``.npz`` file, atomically (never pickled)."""
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as saved:
        return {k: saved[k] for k in saved.files}


class Checkpointer:
    """Writes a run's ``checkpoint.json`` and the learner-state files paired with it.

    ``stage(field, arrays)`` queues a state file for the next ``save``, which writes the files first,
    then the checkpoint naming them, then deletes the files the previous checkpoint named.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / CHECKPOINT_FILE
        self.files: dict[str, str | None] = {field: None for field in PAIRED_FILES}
        self._staged: dict[str, dict[str, np.ndarray]] = {}

    def stage(self, field: str, arrays: dict[str, np.ndarray]) -> None:
        self._staged[field] = arrays

    def save(self, state: dict[str, Any], step: int) -> None:
        """Write the staged files (named after ``step``), then the checkpoint holding ``state``."""
        previous = dict(self.files)
        for field, arrays in self._staged.items():
            name = _pattern(field).format(step)
            if name == previous.get(field):  # never rewrite the file the last checkpoint names
                name = name.removesuffix(".npz") + "-again.npz"
            save_arrays(self.run_dir / name, arrays)
            self.files[field] = name
        save_checkpoint(self.path, {**state, "files": dict(self.files)})
        self._staged.clear()
        for field, name in previous.items():
            if name and name != self.files.get(field):
                (self.run_dir / name).unlink(missing_ok=True)

    def load(self) -> dict[str, Any]:
        """The saved state; remembers the files it names and deletes files no checkpoint names."""
        state = load_checkpoint(self.path)
        self.files = {**{field: None for field in PAIRED_FILES}, **state.get("files", {})}
        for pattern in [p.replace("{:06d}", "*") for p in PAIRED_FILES.values()] + ["member*_learner_weights-*.npz"]:
            for path in self.run_dir.glob(pattern):
                if path.name not in self.files.values():
                    path.unlink(missing_ok=True)
        return state

    def load_file(self, field: str) -> dict[str, np.ndarray] | None:
        """The arrays of the file the checkpoint names for ``field`` (None: it names none)."""
        name = self.files.get(field)
        if not name:
            return None
        path = self.run_dir / name
        if not path.is_file():
            raise CheckpointError(f"{self.path} names {name}, which is missing from the run directory: "
                                  "the persistent learner cannot be resumed")
        return load_arrays(path)
