"""``module:Class`` resolves from the current folder, as a new user expects: in the driver and in every Ray worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from feedback_loop.imports import ImportPathError, import_object

CONSOLE_SCRIPT = Path(sys.executable).parent / "feedback-loop"


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    """A fresh current folder; sys.path and the modules imported from it are restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("cwd_plugin"):
            del sys.modules[name]


def test_import_object_finds_a_module_in_the_current_folder(user_folder):
    (user_folder / "cwd_plugin_a.py").write_text("VALUE = 42\n")
    assert import_object("cwd_plugin_a:VALUE", "simulator.id") == 42
    assert os.path.samefile(sys.path[0], user_folder)
    assert import_object("cwd_plugin_a:VALUE", "simulator.id") == 42
    assert sum(os.path.samefile(p, user_folder) for p in sys.path if os.path.isdir(p)) == 1  # inserted once


def test_missing_and_broken_modules_say_where_they_were_looked_for(user_folder):
    with pytest.raises(ImportPathError, match=rf"simulator.id: cannot import module 'cwd_plugin_none' from the current "
                                              rf"folder {user_folder} or the installed packages"):
        import_object("cwd_plugin_none:Env", "simulator.id")
    (user_folder / "cwd_plugin_dep.py").write_text("import cwd_plugin_missing_dependency\n")
    with pytest.raises(ImportPathError, match="module 'cwd_plugin_dep' was found but failed to import: No module "
                                              "named 'cwd_plugin_missing_dependency'"):
        import_object("cwd_plugin_dep:Env", "simulator.id")
    (user_folder / "cwd_plugin_bad.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ImportPathError, match="importing module 'cwd_plugin_bad' .* raised RuntimeError: boom"):
        import_object("cwd_plugin_bad:Env", "learner.model")


MY_SIM = '''
import os
from feedback_loop.envs.gaussian_mixture import GaussianMixtureEnv


class MySim(GaussianMixtureEnv):
    """Defined only in this folder; records the process that builds it."""

    def __init__(self):
        super().__init__()
        with open(os.path.join({folder!r}, "sim_pids.txt"), "a") as f:
            f.write(f"{{os.getpid()}}\\n")

    def oracle_params(self):
        return None  # no oracle runs: keep the test short
'''

MY_MODELS = '''
import os
import torch


def build(input_shape, num_classes):
    with open(os.path.join({folder!r}, "model_pids.txt"), "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(torch.tensor(input_shape).prod()), num_classes))
'''

CONFIG = """
name: my-plugin
simulator:
  id: my_sim:MySim
data:
  real: real.npz
learner:
  model: my_models:build
  samples: 100
  epochs: 1
policy:
  name: random
budget:
  evaluations: 2
resources:
  generators: 1
  learners: 1
  generator_cpus: 0.5
  learner_cpus: 0.5
tracking:
  tracking_uri: none
"""


def test_run_from_the_users_folder_imports_plugins_in_driver_and_ray_workers(tmp_path):
    """The real command line, started in the user's folder without PYTHONPATH: the driver and the
    Ray workers (a local Ray started by this run) import my_sim and my_models from that folder."""
    from feedback_loop.envs.gaussian_mixture import GaussianMixtureEnv

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "my_sim.py").write_text(textwrap.dedent(MY_SIM.format(folder=str(folder))))
    (folder / "my_models.py").write_text(textwrap.dedent(MY_MODELS.format(folder=str(folder))))
    (folder / "my.yaml").write_text(CONFIG)
    env = GaussianMixtureEnv()
    x, y = env.sample_batch(env.oracle_params(), 400, seed=1)
    x_test, y_test = env.sample_batch(env.oracle_params(), 400, seed=2)
    np.savez(folder / "real.npz", x=x, y=y, x_test=x_test, y_test=y_test)

    child_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS")}
    proc = subprocess.Popen([str(CONSOLE_SCRIPT), "run", "my.yaml", "--run-dir", "run", "--no-progress"],
                            cwd=folder, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["evaluations"] == 2, summary
    assert summary.get("failed_evaluations", 0) == 0, summary.get("errors")
    # Built in Ray worker processes, not only in the driver (its preflight builds them too).
    sim_pids = set((folder / "sim_pids.txt").read_text().split())
    model_pids = set((folder / "model_pids.txt").read_text().split())
    assert sim_pids - {str(proc.pid)}, "no Ray worker built my_sim:MySim"
    assert model_pids - {str(proc.pid)}, "no Ray worker built my_models:build"


def test_a_cluster_without_the_folder_shipped_gets_a_warning(monkeypatch, caplog):
    """Joining a multi-node cluster with modules from the current folder, but no working_dir: say how to ship them."""
    import ray

    from feedback_loop import imports
    from feedback_loop.executors import resources

    class Context:
        def __init__(self, runtime_env):
            self.runtime_env = runtime_env

    monkeypatch.setattr(imports, "modules_from_cwd", {"my_sim"})
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}, {"Alive": True}])
    monkeypatch.setattr(ray, "get_runtime_context", lambda: Context({}))
    message = resources.warn_if_code_not_shipped("10.0.0.1:6379")
    assert message and "['my_sim']" in message and "ray job submit --working-dir ." in message
    assert message in caplog.text
    monkeypatch.setattr(ray, "get_runtime_context", lambda: Context({"working_dir": "gcs://_ray_pkg_abc.zip"}))
    assert resources.warn_if_code_not_shipped("10.0.0.1:6379") is None  # shipped with the job
    monkeypatch.setattr(ray, "get_runtime_context", lambda: Context({}))
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}])
    assert resources.warn_if_code_not_shipped(None) is None  # one node: workers share the driver's folder
