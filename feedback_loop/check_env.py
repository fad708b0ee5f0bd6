"""``feedback-loop check-env TARGET``: every rule of the simulator contract, one line each.

Runs gymnasium's ``check_env`` and this project's contract checks (``feedback_loop.envs.checker``)
on a simulator named by a gymnasium id or a ``module:Class`` path (found from the current folder
first, as in a config). Prints first the task it serves with its label spec (``task: regression
(score mae, lower is better), labels float32 of shape (2,) (pitch, yaw)``), then ``ok <check>``,
``FAIL <check>: <what is wrong> — <how to fix>``, ``skip <check>: ...`` (a check that needs a failed
one) or ``warn <check>: ...``. Exit status: 0 when every check passes, 2 otherwise (or when the
simulator cannot be built at all).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any

from .errors import UserError


def _parse_kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"--kwargs: {text!r} is not JSON or YAML: {' '.join(str(err).split())}") from err
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"--kwargs: expected a mapping such as '{{\"size\": 8}}'; got {type(value).__name__} {value!r}")
    return value


def _make(target: str, kwargs: dict[str, Any]) -> Any:
    from .imports import ImportPathError
    from .simulators import SimulatorError, make_simulator

    try:
        return make_simulator(target, kwargs)
    except (SimulatorError, ImportPathError):
        raise  # already one line that says what to fix
    except Exception as err:
        raise UserError(
            f"check-env: building {target!r} raised {type(err).__name__}: {' '.join(str(err).split())} "
            "(run with --debug for the traceback)") from err


def _cmd_check_env(args: argparse.Namespace) -> int:
    from .envs.checker import run_checks

    if args.samples < 20:
        raise UserError(f"--samples: {args.samples} is too few to compare distributions; give at least 20")
    env = _make(args.target, _parse_kwargs(args.kwargs))
    results = run_checks(env, samples=args.samples, seed=args.seed)
    line = task_line(env, {r.check: r.status for r in results}, args.seed)
    if line:
        print(line)
    print(params_line(env))
    failed = skipped = 0
    for result in results:
        if result.status == "ok":
            print(f"ok {result.check}")
        elif result.status == "skip":
            skipped += 1
            print(f"skip {result.check}: {result.message}")
        else:
            failed += 1
            print(f"FAIL {result.check}: {result.message}")
            if getattr(args, "debug", False) and result.error is not None:
                traceback.print_exception(result.error, file=sys.stderr)
        for note in result.warnings:
            print(f"warn {result.check}: {note}")
    passed = len(results) - failed - skipped
    verdict = "follows the simulator contract" if not failed else "breaks the simulator contract"
    print(f"{args.target}: {passed} passed, {failed} failed, {skipped} skipped — {verdict}")
    return 0 if not failed else 2


def task_line(env: Any, statuses: dict[str, str], seed: int = 0) -> str | None:
    """``task: <task> (score, direction), labels <dtype> of shape <shape>[, classes or targets]``: the
    task the simulator serves and its label spec, bound to a small batch at nominal. None when the
    task itself failed its check (the FAIL line says why); the label spec is left out until the labels
    pass theirs (``labels_in_range``)."""
    import numpy as np

    from .envs.generation import generate_batch
    from .tasks import declared_task

    if statuses.get("task") != "ok":
        return None
    task = declared_task(env)
    if statuses.get("labels_in_range") != "ok":
        return f"task: {task.describe()}, labels not described (labels_in_range did not pass)"
    try:
        _, y = generate_batch(env, env.nominal_params, 8, seed)
        task.bind(env, np.asarray(y))
    except Exception:  # already a FAIL line of labels_in_range's rule, or a crash the checks reported
        return f"task: {task.describe()}, labels not described (binding the task to a batch failed)"
    return f"task: {task.describe()}, {label_spec(task)}"


def params_line(env: Any) -> str:
    """Which kind of simulator this is: how the loop passes it per-sample parameter values."""
    from .envs.generation import takes_per_sample_params

    if not hasattr(env, "sample_batch"):
        return "params: no sample_batch; the loop calls reset once per sample with that sample's values"
    if takes_per_sample_params(env):
        return "params: per sample (sample_batch takes an array of n values per parameter)"
    return ("params: scalar only (per_sample_params = False); the loop calls sample_batch once per group of "
            "samples with equal values, once per sample under domain randomization")


def label_spec(task: Any) -> str:
    """``labels float32 of shape (2,) (pitch, yaw)``, ``labels int64 of shape (), 10 classes``: a bound
    task's label dtype and per-sample shape, with its classes (and their names) or its target names."""
    import numpy as np

    text = f"labels {np.dtype(task.label_dtype).name} of shape {tuple(task.label_shape())}"
    classes = getattr(task, "num_classes", None)
    if classes is not None:
        names = getattr(task, "class_names", None)
        return f"{text}, {classes} classes" + (f" ({', '.join(names)})" if names else "")
    targets = getattr(task, "names", None)  # a regression's target names, when declared
    return f"{text} ({', '.join(targets)})" if targets else text


def add_command(sub: "argparse._SubParsersAction") -> None:
    parser = sub.add_parser(
        "check-env", help="check a simulator against gymnasium and the simulator contract",
        description="Check a simulator: say which task it serves and its label spec (dtype, per-sample shape, "
        "classes or targets), then run gymnasium's check_env plus the feedback-loop contract (param_space, "
        "nominal values, params respected, determinism per seed, label in info, batch vs repeated reset, "
        "bad params rejected, real data). Prints one line per check (ok / FAIL / skip / warn); "
        "exits 0 when every check passes, 2 otherwise.")
    parser.add_argument("target", metavar="TARGET",
                        help="a gymnasium id (feedback_loop/Digits-v0) or module:Class, found from the current folder first")
    parser.add_argument("--kwargs", metavar="JSON", help="simulator constructor arguments as JSON or YAML, e.g. '{\"size\": 8}'")
    parser.add_argument("--samples", type=int, default=500,
                        help="samples compared between sample_batch and repeated reset (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated batches (default: %(default)s)")
    parser.set_defaults(func=_cmd_check_env)
