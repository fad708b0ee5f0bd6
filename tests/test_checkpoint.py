"""Checkpoints: atomic JSON with a checksum; corrupt or foreign files are refused."""

from __future__ import annotations

import json

import pytest

from feedback_loop.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip(tmp_path):
    state = {"evaluations": 3, "policy": {"rng": {"state": 2**100}}, "pending": [{"id": 1}]}
    save_checkpoint(tmp_path / "c.json", state)
    assert load_checkpoint(tmp_path / "c.json") == state
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temp file left behind


def test_tampered_checkpoint_is_refused(tmp_path):
    path = tmp_path / "c.json"
    save_checkpoint(path, {"evaluations": 3})
    payload = json.loads(path.read_text())
    payload["state"]["evaluations"] = 4
    path.write_text(json.dumps(payload))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "c.json"
    save_checkpoint(path, {"evaluations": 3})
    path.write_text(path.read_text()[:20])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(CheckpointError, match="not a feedback-loop checkpoint"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "c.json")
