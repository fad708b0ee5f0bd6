"""Which Ray a run starts or joins (``ensure_ray``), and telling a Ray that went away, without a Ray."""

from __future__ import annotations

import socket

import pytest

from feedback_loop.executors import resources


@pytest.fixture
def init_calls(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(resources.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(resources.ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(resources, "warn_if_code_not_shipped", lambda address: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return calls


@pytest.mark.parametrize(("address", "env", "expected"), [
    (None, None, "local"),  # its own Ray, even beside a `ray start` node Ray's default would join
    (None, "127.0.0.1:6379", None),  # a Ray job's driver: Ray reads RAY_ADDRESS itself
    ("auto", None, "auto"),  # joining the machine's cluster is asked for
])
def test_a_run_starts_its_own_ray_unless_told_to_join(init_calls, monkeypatch, address, env, expected):
    if env:
        monkeypatch.setenv("RAY_ADDRESS", env)
    resources.ensure_ray(address)
    assert [call["address"] for call in init_calls] == [expected]


def test_a_ray_whose_gcs_refuses_connections_is_gone(monkeypatch):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]

        class Context:
            gcs_address = f"127.0.0.1:{port}"

        monkeypatch.setattr(resources.ray, "is_initialized", lambda: True)
        monkeypatch.setattr(resources.ray, "get_runtime_context", lambda: Context())
        assert not resources.ray_is_gone()
    assert resources.ray_is_gone()  # closed: nothing accepts there any more
