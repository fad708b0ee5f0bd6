"""A Ray head node started as a user would (``ray start --head``), isolated from every other Ray on
this machine, and stopped without touching them (``ray stop`` would stop all of them)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line names ``text``, and their children (Ray's workers rename themselves)."""
    found, parents = set(), {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.add(int(proc.name))
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    grown = True
    while grown:  # add children of what was found until nothing new appears
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grown = bool(more)
    return sorted(found)


@contextlib.contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[dict[str, str]]:
    """Start ``ray start --head`` (dashboard on 127.0.0.1, token authentication on, its own temp dir so
    that no ``ray.init()`` elsewhere finds it); yield the environment and dashboard address a client
    needs; kill exactly its processes at the end."""
    temp_dir = tempfile.mkdtemp(prefix="fl-ray-", dir="/tmp")  # short: Ray's socket paths must fit
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env.pop("RAY_ADDRESS", None)
    # as in an activated virtualenv: the job's entrypoint finds `feedback-loop` on PATH
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    dashboard_port, gcs_port = free_port(), free_port()
    # Every port its own: another Ray on this machine (a test session's) holds the default ones.
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={gcs_port}",
               f"--num-cpus={num_cpus}", "--num-gpus=0", "--dashboard-host=127.0.0.1",
               f"--dashboard-port={dashboard_port}", f"--dashboard-agent-listen-port={free_port()}",
               f"--dashboard-agent-grpc-port={free_port()}", f"--ray-client-server-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
               f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    try:
        if started.returncode != 0:
            raise RuntimeError(f"ray start --head failed:\n{started.stdout[-2000:]}\n{started.stderr[-2000:]}")
        yield {"env": env, "dashboard": f"http://127.0.0.1:{dashboard_port}"}
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _pids_mentioning(temp_dir) + _pids_mentioning(f":{gcs_port} "):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(1.0)
