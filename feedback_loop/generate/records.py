"""The output folder's bookkeeping: which shards are complete, and ``manifest.json``.

A shard counts as complete only when its file's SHA-256 matches its record: a small JSON file in
``DIR/.done/`` that the writer puts there *after* renaming the shard into place (or, once the
dataset is finished, its entry in ``manifest.json``). A run killed at any moment therefore leaves
shards that are either complete and verified, or rewritten by the next run.

``manifest.json`` is written when a run starts (``"status": "incomplete"``, the dataset's spec and
task) and again when every shard is complete (``"status": "complete"``, every shard's seed, count,
SHA-256 and label counts, and their totals); then ``.done/`` is removed. Both writes are atomic.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import UserError
from .labelcounts import shard_counts, total_counts
from .shardfile import TEMP_GLOB, sha256_file, write_atomic
from .spec import DatasetSpec, ShardPlan

MANIFEST = "manifest.json"
DONE_DIR = ".done"
MANIFEST_KIND = "feedback-loop-dataset"
MANIFEST_VERSION = 1


class OutputDirError(UserError):
    """The output folder cannot be used (unwritable, foreign files, or another dataset)."""


# -- the folder ------------------------------------------------------------------------------------------
def prepare_out_dir(out: Path, spec: DatasetSpec) -> dict[str, Any] | None:
    """Make ``out`` usable for ``spec``; returns its saved manifest (None for a new folder).

    Refuses a folder that is not writable, holds files that are not a generated dataset, or holds
    a dataset with another spec."""
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"--out {str(out)!r}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputDirError(f"--out {str(out)!r}: cannot write there ({err.strerror or err})") from None
    saved = read_manifest(out) if (out / MANIFEST).is_file() else None
    if saved is None:
        foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))  # ours are hidden
        if foreign:
            raise OutputDirError(f"--out {str(out)!r}: is not empty and holds no {MANIFEST} (e.g. {foreign[0]!r}); "
                                 "choose a new or empty folder")
        return None
    changed = spec.differences(saved)
    if changed:
        raise OutputDirError(f"--out {str(out)!r} holds another dataset ({'; '.join(changed)}); "
                             "choose another folder, or rerun with the same settings to finish it")
    return saved


def remove_temp_files(out: Path) -> int:
    """Delete the hidden temp files a killed writer left behind; returns how many."""
    stale = [p for folder in (out, out / DONE_DIR) if folder.is_dir() for p in folder.glob(TEMP_GLOB)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


# -- shard records ---------------------------------------------------------------------------------------
def record_path(out: Path, shard: ShardPlan) -> Path:
    return out / DONE_DIR / f"{shard.file}.json"


def write_record(out: Path, record: dict[str, Any]) -> None:
    """Save a shard's record; called after the shard's file was renamed into place."""
    (out / DONE_DIR).mkdir(exist_ok=True)
    write_atomic(out / DONE_DIR / f"{record['file']}.json", json.dumps(record, sort_keys=True).encode())


def shard_record(shard: ShardPlan, sha256: str, size: int, y: np.ndarray, task: Any) -> dict[str, Any]:
    """What the manifest says about one shard: its file, seed, count, checksum and what its task
    counts in its labels (``labelcounts.py``). ``task``: the bound ``Task`` (an int or
    None: a classification's number of classes, as before tasks existed)."""
    return {"index": shard.index, "file": shard.file, "seed": shard.seed, "count": shard.count,
            "sha256": sha256, "bytes": size, **shard_counts(task, y)}


def complete_records(out: Path, plan: Iterable[ShardPlan], saved: dict[str, Any] | None,
                     counted: str | None = None) -> dict[int, dict[str, Any]]:
    """The records of the shards already complete: file present and its SHA-256 as recorded.

    ``counted``: the field the dataset's task counts its labels in (``labelcounts.count_field``); a
    record without it (written for another task, or before tasks existed) is not complete, so the
    shard is rewritten rather than aggregated wrongly."""
    from_manifest = {r["index"]: r for r in (saved or {}).get("shards", [])}
    done: dict[int, dict[str, Any]] = {}
    for shard in plan:
        record = _read_json(record_path(out, shard)) or from_manifest.get(shard.index)
        path = out / shard.file
        if (record and record.get("file") == shard.file and record.get("seed") == shard.seed
                and record.get("count") == shard.count and (counted is None or counted in record)
                and path.is_file() and sha256_file(path) == record.get("sha256")):
            done[shard.index] = record
    return done


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing, or torn by a crash: the shard is simply redone


# -- manifest --------------------------------------------------------------------------------------------
def read_manifest(out: Path) -> dict[str, Any]:
    path = Path(out) / MANIFEST
    manifest = _read_json(path)
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        raise OutputDirError(f"{str(path)!r} is missing or not a feedback-loop dataset manifest")
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise OutputDirError(f"{str(path)!r} has manifest_version {manifest.get('manifest_version')!r}; "
                             f"this feedback-loop reads version {MANIFEST_VERSION}")
    return manifest


def write_manifest(out: Path, spec: DatasetSpec, plan: list[ShardPlan], sample: dict[str, Any],
                   source: dict[str, Any], records: dict[int, dict[str, Any]] | None = None,
                   task: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``manifest.json``: the spec and plan (incomplete), or with every record (complete).

    ``task``: the task's ``spec()`` (saved as ``task``; None for none). The totals in ``counts`` add
    up what the records count (``labelcounts.total_counts``)."""
    complete = records is not None and len(records) == len(plan)
    shards = ([records[s.index] for s in plan] if complete
              else [{"index": s.index, "file": s.file, "seed": s.seed, "count": s.count} for s in plan])
    manifest: dict[str, Any] = {
        "kind": MANIFEST_KIND, "manifest_version": MANIFEST_VERSION,
        "status": "complete" if complete else "incomplete",
        **spec.to_dict(),
        **({"task": task} if task is not None else {}),
        "sample": sample, "source": source,
        "counts": {"samples": sum(s.count for s in plan), "shards": len(plan)},
        "shards": shards,
    }
    if complete:
        manifest["counts"].update(total_counts(shards))
        manifest["counts"]["bytes"] = sum(r["bytes"] for r in shards)
    write_atomic(out / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    if complete:
        shutil.rmtree(out / DONE_DIR, ignore_errors=True)  # the manifest now holds every record
    return manifest
