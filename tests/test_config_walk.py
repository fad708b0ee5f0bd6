"""The configuration reference walked (issue 32): every key, set alone to a non-default value on each example,
is refused, warned, or changes what the run does.

The key list is the reference's own (``docs/hooks/config_reference.py``'s ``keys()``), so a new key fails
``test_every_key_has_a_value`` until ``VALUES`` gives it one. For a key K and its value V on an example:

- **refused**: ``prepare_run`` raises ``ConfigError`` (or the ``SimulatorError`` / ``ImportPathError`` it
  raises for refused input) whose message names K (``REFUSED_VIA``: the few keys whose change makes another
  key of the example invalid, which the refusal then names);
- **warned**: ``prepare_run(...).warnings`` gains a line starting with K;
- **changes what the run does**, checked at two depths:

  1. on every example (fast, ``test_each_key_on_each_example``): what the run is built from differs. Not the
     config: what the code made of it — the simulator (its class, spaces and a rendered batch), the real data
     as scored, the bound task, what the learner reads of its settings (``TaskLearner``'s model, init,
     optimizer and scorer; not the epochs, which jobs carry), the policy (its state and the candidates it
     asks), the scheduler (its state and the jobs it hands out first), the oracle's fidelity (where the
     simulator knows its true parameters), the Ray actors the pool would start (their options and arguments,
     from a stubbed Ray: CPU and GPU shares fitted by ``executors.shares``, restarts, retries, placement
     groups, the address joined, capacity, the data seed of a shard), the refiner configuration its stage
     gets, the MLflow tracker the loop makes and the summary's references. ``LoopRunner._open`` builds them,
     as a run does.
  2. on the Gaussian mixture (``test_each_key_changes_a_tiny_run``, marked slow): a tiny in-process run
     with K=V records something else (history scores, params, fidelities, train samples; summary scores,
     selection, delivered model; the tracker made). Keys whose effect cannot show in-process
     (``NOT_IN_PROCESS``: Ray actors and their resources) must instead differ in the actors part of the
     fingerprint above, named in that table with the reason.

In the default suite: the Gaussian mixture, shapes (a persistent policy) and the custom simulator; the
digits examples and gaze are walked in the slow suite (a minute or more each here), as is the tiny run
(about three minutes). ``RUN_ONLY`` keys (an effect only at the run's end) are left to the tiny run;
``KNOWN_IGNORED`` lists what was found doing nothing and is not yet resolved, asserted still so.

Each fingerprint is first taken twice for the unchanged config and must be equal, so a difference is never
chance. A key found doing nothing here is a defect: it gets a rule in ``config_rules.RULES`` (or a fix).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import types
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import numpy as np
import pytest
import yaml

from feedback_loop import preflight
from feedback_loop.config import Config, ConfigError, load_config
from feedback_loop.config_rules import value_at
from feedback_loop.imports import ImportPathError
from feedback_loop.simulators import SimulatorError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {path.stem: path for path in sorted((ROOT / "examples").glob("*.yaml"))}
EXAMPLES["custom_simulator/rings"] = ROOT / "examples" / "custom_simulator" / "rings.yaml"
REFUSALS = (ConfigError, SimulatorError, ImportPathError)


def reference_keys() -> list[str]:
    """Every key of the generated configuration reference."""
    hooks = str(ROOT / "docs" / "hooks")
    sys.path.insert(0, hooks)
    try:
        import config_reference
    finally:
        sys.path.remove(hooks)
    return config_reference.keys()


def _policy_options(config: Config) -> str:
    """Options of the example's own policy (each policy takes its own)."""
    return {"optuna": "{pruner: none}", "pbt": "{population: 3}", "random": "{}", "uniform": "{persistent: true}",
            "reinforce": "{population: 3}", "adr": "{init_width: 0.2}", "adversarial": "{bins: 5}"}[config.policy.name]


# One sensible non-default value per key, as ``--set`` YAML: the first that differs from the example's own
# value is used (a callable: from the example's config).
VALUES: dict[str, tuple[str, ...] | Callable[[Config], str]] = {
    "name": ("config-walk",),
    "seed": ("3",),
    "policy_options": ("{pbt: {population: 2}}",),
    "references": ("{walk: '0.5 real test (a figure from elsewhere)'}",),
    "simulator.id": ("tests.plugins:IgnoresParamsGaussianMixture",),
    "simulator.kwargs": ("{split_seed: 1}",),
    "data.real": ("tests.config_walk_data:half_gaussian_mixture",),
    "data.labels": ("40", "30"),
    "task.name": ("regression", "classification"),
    "task.options": ("{num_classes: 12}",),
    "learner.model": ("tests.plugins:tiny_model",),
    "learner.hidden": ("24", "40"),
    "learner.samples": ("200", "300"),
    "learner.epochs": ("3", "4"),
    "learner.batch_size": ("32", "16"),
    "learner.lr": ("0.02", "0.03"),
    "learner.weight_decay": ("0.01",),
    "learner.input_scale": ("0.5", "0.25"),
    "learner.seed": ("5",),
    "learner.persistent_samples": ("150", "250"),
    "learner.persistent_epochs": ("2", "3"),
    "policy.name": ("random", "optuna"),
    "policy.sampler": ("cmaes", "gp"),
    "policy.seed": ("7",),
    "policy.options": _policy_options,
    "budget.evaluations": ("2", "4"),
    "budget.seconds": ("0.001",),  # binds on the tiny run: it stops asking before its 3 evaluations
    "budget.train_samples": ("300", "400"),
    "search.rungs": ("2", "3"),
    "search.eta": ("2", "4"),
    "search.repeats": ("2",),
    "selection.candidates": ("2", "3"),
    "selection.seeds": ("3", "4"),
    "final.samples": ("150", "250"),
    "final.epochs": ("2", "3"),
    "final.fresh_epochs": ("true", "false"),
    "final.finetune": ("true", "false"),
    "final.widen": ("0.5", "0.25"),
    "resources.ray_address": ("auto",),
    "resources.generators": ("3", "2"),
    "resources.learners": ("3", "4"),
    "resources.generator_cpus": ("0.25", "0.125"),
    "resources.generator_gpus": ("0.5",),
    "resources.learner_cpus": ("0.25", "0.125"),
    "resources.learner_gpus": ("0.5",),
    "resources.prefetch": ("2", "3"),
    "resources.shards": ("2",),
    "resources.placement": ("pack",),
    "resources.max_restarts": ("1",),
    "resources.max_task_retries": ("1",),
    "objective.score": ("realism", "both"),
    "objective.realism": ("c2st", "mmd"),
    "objective.features": ("learner", "raw"),
    "objective.weight": ("0.5",),
    "refiner.name": ("simgan", "none"),
    "refiner.options": ("{steps: 5}",),
    "refiner.fit_samples": ("500", "600"),
    "refiner.refresh_every": ("5", "6"),
    "refiner.refresh_steps": ("10", "20"),
    "refiner.cpus": ("0.25",),
    "refiner.gpus": ("0.25",),
    "tracking.tracking_uri": ("sqlite:///config-walk-mlflow.db",),
    "tracking.experiment": ("config-walk-experiment",),
}

# Keys whose value, set alone, makes another key of some example invalid: the refusal names that key instead.
REFUSED_VIA = {
    "simulator.id": (("learner.model", "refiner.name", "data.real"),
                     "another simulator's samples do not fit the example's model, refiner or labels"),
    "policy.name": (("policy.options.",), "the example's policy.options are its own policy's"),
    "learner.model": (("learner.hidden",), "the example's learner.hidden sizes a built-in model only"),
}

# Combinations found doing nothing and not yet resolved (issue 32), each asserted to still do nothing so the
# entry goes when it is fixed: (key, when) -> why it is left.
# (learner.epochs with a persistent policy was one: now warned by config_rules, and the PBT examples no
# longer set it.)
KNOWN_IGNORED: dict[tuple[str, str], str] = {}


def known_ignored(key: str, config: Config) -> bool:
    from feedback_loop.config_rules import Facts

    return (key, "persistent") in KNOWN_IGNORED and Facts.of(config).persistent


# Keys an in-process run cannot show (no Ray): the part of the fingerprint that must differ instead, and why.
NOT_IN_PROCESS = {
    key: ("actors", reason) for key, reason in {
        "resources.ray_address": "the Ray a run starts or joins (ensure_ray and check_reachable get the address)",
        "resources.generators": "how many generator actors the pool starts",
        "resources.learners": "how many learner actors (in-process: one learner, jobs one at a time)",
        "resources.generator_cpus": "the generators' num_cpus",
        "resources.generator_gpus": "the generators' num_gpus",
        "resources.learner_cpus": "the learners' num_cpus",
        "resources.learner_gpus": "the learners' num_gpus",
        "resources.prefetch": "the Ray executor's capacity (jobs in flight per learner)",
        "resources.placement": "placement groups, one per learner slot",
        "resources.max_restarts": "the actors' max_restarts",
        "resources.max_task_retries": "the actors' max_task_retries",
    }.items()
}

# Keys whose effect comes only at the end of a run, after everything the fingerprint sees is built: the
# tiny run checks them (on the Gaussian mixture); on the other examples they must be refused or warned where
# they would do nothing, and are otherwise not flagged.
RUN_ONLY = {
    "final.finetune": "the delivered model is fine-tuned on the labelled real samples after the run (loop._finish)",
}

# What the in-process run of ``test_each_key_changes_a_tiny_run`` shrinks the Gaussian mixture to.
TINY = ["learner.samples=100", "learner.epochs=1", "budget.evaluations=3", "tracking.tracking_uri=none", "name=walk"]
HAVE = {"CPU": 64.0, "GPU": 4.0}  # what the stubbed Ray has: no share is scaled down, every GPU share shows


def assignment(key: str, config: Config) -> str | None:
    """``key=value`` with the first value that differs from ``config``'s own (None: none does)."""
    values = VALUES[key]
    candidates = (values(config),) if callable(values) else values
    own = value_at(config, key)
    for raw in candidates:
        if yaml.safe_load(raw) != own:
            return f"{key}={raw}"
    return None


# -- fingerprints ------------------------------------------------------------------------------------

def digest(array: Any) -> Any:
    if array is None:
        return None
    array = np.ascontiguousarray(np.asarray(array))
    return [list(array.shape), str(array.dtype), hashlib.sha1(array.tobytes()).hexdigest()[:16]]


def plain(obj: Any, depth: int = 0) -> Any:
    """Objects as JSON-able data: what a scheduler or a policy holds (not the ledger, a policy it holds,
    or functions: whether one is there shows)."""
    from feedback_loop.ledger import Ledger

    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return digest(obj)
    if depth > 6:
        return type(obj).__name__
    if isinstance(obj, dict):
        return {str(k): plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [plain(v, depth + 1) for v in items]
    if isinstance(obj, Ledger):
        return "<ledger>"
    if callable(obj) and not hasattr(obj, "__dict__") or isinstance(obj, (types.FunctionType, types.MethodType)):
        return "<function>"
    if dataclasses.is_dataclass(obj):
        return {type(obj).__name__: {f.name: plain(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj)}}
    if hasattr(obj, "ask") and hasattr(obj, "tell") and depth > 0:
        return f"<policy {type(obj).__name__}>"
    state = getattr(obj, "__dict__", None)
    if state is None:
        return type(obj).__name__
    skip = ("_storage", "_cached", "_lock", "_thread", "_rng", "rng")
    return {type(obj).__name__: {k: plain(v, depth + 1) for k, v in sorted(state.items())
                                 if not k.startswith("__") and not k.endswith(skip)}}


_SIMULATORS: dict[str, Any] = {}


@pytest.fixture
def cached_simulators(monkeypatch):
    """Build each simulator once per session (the digits' glyph tables take seconds): preflight's checks of
    the same id and kwargs give the same checked simulator."""
    real = preflight.checked_simulator

    def cached(sim_id, kwargs):
        key = json.dumps([sim_id, kwargs, os.getcwd()], sort_keys=True, default=str)
        if key not in _SIMULATORS:
            _SIMULATORS[key] = real(sim_id, kwargs)
        return _SIMULATORS[key]

    monkeypatch.setattr(preflight, "checked_simulator", cached)


def simulator_part(prepared: preflight.PreparedRun) -> Any:
    from feedback_loop.envs.generation import generate_batch

    env = prepared.env
    x, y = generate_batch(env, env.nominal_params, 8, 12345)
    return [type(env).__name__, plain(env.nominal_params), repr(env.param_space), digest(x), digest(y)]


def learner_part(learner: dict[str, Any], input_shape: tuple[int, ...], task_spec: dict[str, Any]) -> Any:
    """What a learner actor reads of its settings: model (its parameters at init), optimizer settings, scorer.
    Not ``epochs``: every job says its own."""
    import torch

    from feedback_loop.learners import TaskLearner

    tl = TaskLearner(learner, input_shape, task_spec)
    model = tl.new_model()
    params = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
    settings = dataclasses.asdict(tl.settings)
    settings.pop("epochs")
    scorer = tl.scorer
    return {"model": [tl.model_name, tl.hidden, digest(params.round(6))], "init_seed": tl.init_seed,
            "settings": settings, "objective": plain(scorer.objective),
            "realism": plain(vars(scorer.config)) if scorer.uses_realism else None,
            "features": _name(scorer.features) if scorer.uses_realism else None}


def _name(obj: Any) -> str:
    """A function or object by its qualified name (not its address)."""
    return getattr(obj, "__qualname__", None) or plain(obj) and json.dumps(plain(obj), default=str)


class StubRay:
    """Records what an ``ActorPool`` asks of Ray, without Ray."""

    def __init__(self, monkeypatch):
        import ray

        from feedback_loop import loop
        from feedback_loop.executors import actor_pool
        from feedback_loop.tracking import make_tracker

        self.calls: dict[str, list] = {"ensure_ray": [], "check_reachable": [], "placement_groups": [], "tracker": []}
        self.generator, self.learner = mock.MagicMock(), mock.MagicMock()
        monkeypatch.setattr(actor_pool, "GeneratorActor", self.generator)
        monkeypatch.setattr(actor_pool, "LearnerActor", self.learner)
        monkeypatch.setattr(actor_pool, "ensure_ray", lambda address: self.calls["ensure_ray"].append(address))
        monkeypatch.setattr(loop, "check_reachable", lambda address: self.calls["check_reachable"].append(address))
        monkeypatch.setattr(actor_pool, "slot_placement_groups",
                            lambda res, n: self.calls["placement_groups"].append(n) or [f"group-{i}" for i in range(n)])
        monkeypatch.setattr(actor_pool, "in_slot", lambda groups, slot, bundle: {"slot": [slot, bundle]} if groups else {})
        monkeypatch.setattr(ray, "cluster_resources", lambda: dict(HAVE))
        monkeypatch.setattr(ray, "put", lambda value: "ref")

        def tracker(uri, experiment):
            self.calls["tracker"].append([uri, experiment])
            return make_tracker("none", experiment)

        monkeypatch.setattr(loop, "make_tracker", tracker)

    def actors(self) -> Any:
        def options(actor):
            out = []
            for call in actor.options.call_args_list:
                kwargs = {k: v for k, v in call.kwargs.items() if k != "name"}  # names hold the run id
                out.append(plain(kwargs))
            return out

        def remote(actor):
            return [plain(call.args) for call in actor.options.return_value.remote.call_args_list]

        generate = self.generator.options.return_value.remote.return_value.generate.remote.call_args_list
        return {"generators": options(self.generator), "generator_args": remote(self.generator),
                "learners": options(self.learner), "shards": [plain(c.args) for c in generate],
                **{k: plain(v) for k, v in self.calls.items() if k != "tracker"}}


def fingerprint(config: Config, prepared: preflight.PreparedRun, run_dir: Path, monkeypatch) -> dict[str, Any]:
    """What the run ``prepared`` is built from (see the module docstring)."""
    from feedback_loop import report
    from feedback_loop.loop import LoopRunner
    from feedback_loop.schedulers import fidelities

    with monkeypatch.context() as patch:
        stub = StubRay(patch)
        patch.setattr(os, "fsync", lambda fd: None)  # the study journal's and checkpoints' durability: not asked here
        runner = LoopRunner(config, run_dir, prepared=prepared)
        runner._open()  # the policy, scheduler, tracker and (unstarted) Ray executor a run makes
        jobs = runner.scheduler.next_jobs(4, [])
        executor = runner.executor
        executor.pool.start(prepared.real)  # RayExecutor.start's first step (the rest needs live actors)
        executor._load = [0] * len(executor.learners)
        if jobs:
            executor.submit(jobs[0])  # its shards rendered by the generators (their sizes and data seeds)
        learners = stub.learner.options.return_value.remote.call_args_list
        learner = learner_part(*learners[0].args[:3]) if learners else None
        env = prepared.env
        oracle = env.oracle_params() if hasattr(env, "oracle_params") else None
        parts = {
            "simulator": simulator_part(prepared),
            "real": [digest(getattr(prepared.real, f.name)) for f in dataclasses.fields(prepared.real)],
            "task": plain(prepared.task.spec()),
            "learner": learner,
            "policy": plain(runner.policy),
            "scheduler": plain(runner.scheduler),
            "jobs": [plain(dataclasses.asdict(job)) for job in jobs],
            "topology": [runner.topology.persistent, runner.topology.learners(config.resources.learners)],
            "oracle": None if oracle is None else plain(
                [fidelities(config)[1], config.final.fresh_epochs and not runner.topology.persistent]),
            "actors": {**stub.actors(), "capacity": executor.capacity},
            "refiner": plain(executor.pool.refiner_config) if executor.pool.refiner_config.name != "none" else None,
            "tracker": stub.calls["tracker"],
            "references": report.summarize(config, runner.ledger, runner.scheduler, prepared.task)["references"],
        }
    # the Optuna study's journal path holds the run directory: compare without it
    return json.loads(json.dumps(parts, default=str).replace(str(run_dir), "RUN_DIR"))


def classify(config: Config, key: str, base: dict[str, Any] | None, run_dir: Path, monkeypatch,
             base_warnings: list[str]) -> tuple[str, str]:
    """``(refused | warned | changed | IGNORED, detail)`` for ``config``, which sets ``key``."""
    try:
        prepared = preflight.prepare_run(config)
    except REFUSALS as err:
        message = str(err)
        if key in message or any(other in message for other in REFUSED_VIA.get(key, ((), ""))[0]):
            return "refused", message
        return "IGNORED", f"refused without naming {key}: {message}"
    new = [line for line in prepared.warnings  # a dict key's entry (policy.options.pruner) counts as the key
           if line.startswith((f"{key}:", f"{key}.")) and line not in base_warnings]
    if new:
        return "warned", new[0]
    seen = fingerprint(config, prepared, run_dir, monkeypatch)
    differs = sorted(part for part in seen if seen[part] != base[part])
    if not differs:
        return "IGNORED", "neither refused, warned, nor did anything the run is built from change"
    return "changed", ", ".join(differs)


# -- the tests ---------------------------------------------------------------------------------------

def test_every_key_has_a_value():
    """A new key fails here until ``VALUES`` says what to set it to."""
    keys = reference_keys()
    assert len(keys) == len(set(keys))
    assert sorted(VALUES) == sorted(keys), (
        f"keys without a value: {sorted(set(keys) - set(VALUES))}; values for no key: {sorted(set(VALUES) - set(keys))}")
    defaults = Config()
    for key, values in VALUES.items():
        first = values(load_config(None)) if callable(values) else values[0]
        assert yaml.safe_load(first) != value_at(defaults, key), f"{key}: {first} is its default"
    assert set(NOT_IN_PROCESS) | set(REFUSED_VIA) | set(RUN_ONLY) | {k for k, _ in KNOWN_IGNORED} <= set(keys)


# The digits' and the gaze's walks take a minute or more each on 2 busy cores (their model is built and
# checked for every key): in the slow suite.
SLOW_EXAMPLES = {"digits", "digits_pbt", "digits_simgan", "digits_pbt_few_labels", "gaze"}


@pytest.mark.parametrize("example", [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_EXAMPLES else [])
                                     for name in EXAMPLES])
def test_each_key_on_each_example(example, tmp_path, monkeypatch, cached_simulators):
    path = EXAMPLES[example]
    monkeypatch.chdir(path.parent)  # a custom simulator is imported from its folder, its data read there
    base_config = load_config(path)
    base_warnings = preflight.prepare_run(base_config).warnings
    base = fingerprint(base_config, preflight.prepare_run(base_config), tmp_path / "base", monkeypatch)
    again = load_config(path)
    assert fingerprint(again, preflight.prepare_run(again), tmp_path / "again", monkeypatch) == base, (
        "the fingerprint is not repeatable")
    found, ignored = {}, []
    for i, key in enumerate(reference_keys()):
        setting = assignment(key, base_config)
        assert setting is not None, f"{key}: every value in VALUES is {example}'s own"
        try:
            config = load_config(path, [setting])
        except ConfigError as err:  # refused by the config's own validation
            found[setting] = ("refused", str(err))
            assert key in str(err), f"{setting}: refused without naming {key}: {err}"
            continue
        outcome = classify(config, key, base, tmp_path / f"run-{i}", monkeypatch, base_warnings)
        found[setting] = outcome
        if known_ignored(key, config):
            assert outcome[0] == "IGNORED", f"{setting}: now {outcome}; remove it from KNOWN_IGNORED"
        elif outcome[0] == "IGNORED" and key not in RUN_ONLY:
            ignored.append(f"{setting}: {outcome[1]}")
        if key in NOT_IN_PROCESS and outcome[0] == "changed":
            part = NOT_IN_PROCESS[key][0]
            assert part in outcome[1].split(", "), f"{setting}: expected the {part!r} part to change, got {outcome[1]}"
    assert not ignored, f"on {example}, set alone and silently ignored:\n" + "\n".join(ignored)


# -- the tiny in-process run on the Gaussian mixture ---------------------------------------------------------

DROPPED = {"wall_seconds", "run_dir", "mlflow_tracking_uri", "mlflow_experiment_id", "mlflow_run_id", "warnings",
           # the config said back: not what the run did
           "policy", "sampler", "simulator", "train_samples_budget", "final_widen", "labels"}


def run_record(config: Config, run_dir: Path, monkeypatch) -> dict[str, Any]:
    """What a tiny in-process run records, without wall times, paths and run ids."""
    from tests import runs
    from tests.test_loop_logic import in_process

    with monkeypatch.context() as patch:
        stub = StubRay(patch)
        summary = in_process(config, run_dir).run(progress=False)
    history = [{k: v for k, v in entry.items() if k not in ("elapsed",)} for entry in runs.history(run_dir)]
    summary = {k: v for k, v in summary.items() if k not in DROPPED}
    if isinstance(summary.get("objective"), dict):  # its name and direction, not the config echoed
        summary["objective"] = {k: summary["objective"].get(k) for k in ("name", "direction")}
    record = {"history": history, "summary": summary, "tracker": stub.calls["tracker"],
              "ray_address": stub.calls["check_reachable"]}
    return json.loads(json.dumps(record, default=str).replace(str(run_dir), "RUN_DIR"))


@pytest.mark.slow
def test_each_key_changes_a_tiny_run(tmp_path, monkeypatch):
    """Every key not refused or warned on the tiny Gaussian mixture changes what its in-process run records;
    ``NOT_IN_PROCESS`` keys are checked on the actors instead (``test_each_key_on_each_example``)."""
    gm = EXAMPLES["gaussian_mixture"]
    base_config = load_config(gm, TINY)
    base_warnings = preflight.prepare_run(base_config).warnings
    base = run_record(base_config, tmp_path / "base", monkeypatch)
    assert run_record(base_config, tmp_path / "again", monkeypatch) == base, "the tiny run is not repeatable"
    ignored = []
    for i, key in enumerate(reference_keys()):
        setting = assignment(key, base_config)
        try:
            config = load_config(gm, [*TINY, setting])
            prepared = preflight.prepare_run(config)
        except REFUSALS as err:
            assert key in str(err) or any(other in str(err) for other in REFUSED_VIA.get(key, ((), ""))[0]), f"{setting}: refused without naming {key}: {err}"
            continue
        if any(line.startswith((f"{key}:", f"{key}.")) and line not in base_warnings for line in prepared.warnings):
            continue
        if key in NOT_IN_PROCESS:
            continue
        record = run_record(config, tmp_path / f"run-{i}", monkeypatch)
        if record == base:
            ignored.append(setting)
    assert not ignored, f"set alone on the tiny Gaussian mixture, these changed nothing its run records: {ignored}"
