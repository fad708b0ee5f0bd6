"""``feedback-loop check-env TARGET``: the task served, then every contract check, one line each; exit 0 when all
pass, else 2."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from gymnasium import spaces

from feedback_loop.cli import main
from feedback_loop.envs import Simulator
from feedback_loop.envs.checker import CHECKS, check_simulator


def check_env(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["check-env", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def statuses(lines: list[str]) -> dict[str, str]:
    """{check: "ok" | "FAIL" | "skip"} from the printed lines."""
    out = {}
    for line in lines:
        status, _, rest = line.partition(" ")
        if status in ("ok", "FAIL", "skip"):
            out[rest.split(":", 1)[0]] = status
    return out


def test_help_names_target_and_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check-env", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: feedback-loop check-env" in out and "TARGET" in out and "--kwargs" in out


@pytest.mark.parametrize(("target", "samples"), [("feedback_loop/GaussianMixture-v0", "300"),
                                                 ("feedback_loop/Digits-v0", "100")])
def test_builtin_simulators_pass_every_check(capsys, target, samples):
    code, lines, _ = check_env(capsys, target, "--samples", samples)
    assert code == 0, "\n".join(lines)
    assert statuses(lines) == {check.name: "ok" for check in CHECKS}
    assert lines[-1].startswith(f"{target}: {len(CHECKS)} passed, 0 failed, 0 skipped")


@pytest.mark.parametrize(("target", "failed", "line"), [
    ("tests.plugins:IgnoresParamsGaussianMixture", {"params_respected"},
     "FAIL params_respected: IgnoresParamsGaussianMixture: changing c0_m0_x (-1.0 -> 5.0), "),
    ("tests.plugins:NondeterministicGaussianMixture", {"gymnasium_check_env", "same_seed_same_batch"},
     "FAIL same_seed_same_batch: NondeterministicGaussianMixture: the same params and seed gave different batches — "),
    ("tests.plugins:NoLabelEnv", {"label_in_info"},
     "FAIL label_in_info: NoLabelEnv.reset must return info['label']; got keys [] — "),
    ("tests.plugins:BatchUnlikeResetGaussianMixture", {"batch_equals_reset"},
     "FAIL batch_equals_reset: BatchUnlikeResetGaussianMixture: class "),
])
def test_a_broken_simulator_exits_2_naming_each_broken_rule(capsys, target, failed, line):
    code, lines, _ = check_env(capsys, target, "--samples", "200")
    assert code == 2
    found = statuses(lines)
    assert {name for name, status in found.items() if status == "FAIL"} == failed, "\n".join(lines)
    assert set(found) == {check.name for check in CHECKS}  # every check reported, none silently dropped
    assert any(text.startswith(line) for text in lines), "\n".join(lines)
    fail_lines = [text for text in lines if text.startswith("FAIL ")]
    assert all(" — " in text for text in fail_lines), "each failure says how to fix it"
    assert "breaks the simulator contract" in lines[-1]


def test_checks_that_need_a_failed_one_are_skipped_not_failed(capsys):
    code, lines, _ = check_env(capsys, "tests.plugins:NoLabelEnv", "--samples", "50")
    assert code == 2
    assert "skip observation_in_space: needs label_in_info to pass first" in lines


def test_check_simulator_still_stops_at_the_first_preflight_rule():
    """The check before every run keeps its (cheap) rules; ignoring params is check-env's finding, not a refusal."""
    from feedback_loop.envs.checker import SimulatorContractError
    from tests.plugins import IgnoresParamsGaussianMixture, NoLabelEnv

    check_simulator(IgnoresParamsGaussianMixture())
    with pytest.raises(SimulatorContractError, match=r"^NoLabelEnv.reset must return info\['label'\]"):
        check_simulator(NoLabelEnv())


def test_module_class_target_from_the_current_folder(capsys, tmp_path, monkeypatch):
    (tmp_path / "cwd_checked_sim.py").write_text(
        "from feedback_loop.envs.gaussian_mixture import GaussianMixtureEnv\n\n\n"
        "class MySim(GaussianMixtureEnv):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.delitem(sys.modules, "cwd_checked_sim", raising=False)
    try:
        code, lines, _ = check_env(capsys, "cwd_checked_sim:MySim", "--samples", "100")
    finally:
        sys.modules.pop("cwd_checked_sim", None)
    assert code == 0, "\n".join(lines)


@pytest.mark.parametrize(("args", "message"), [
    (["NoSuch-v0"], "error: simulator.id: unknown simulator 'NoSuch-v0'"),
    (["cwd_no_such_module:Env"], "cannot import module 'cwd_no_such_module' from the current folder"),
    (["feedback_loop/GaussianMixture-v0", "--kwargs", "[1, 2]"], "error: --kwargs: expected a mapping"),
    (["feedback_loop/GaussianMixture-v0", "--kwargs", "{size: 3}"], "simulator.kwargs: feedback_loop/GaussianMixture-v0 rejected"),
    (["feedback_loop/GaussianMixture-v0", "--samples", "3"], "error: --samples: 3 is too few"),
])
def test_unusable_targets_are_one_line_and_exit_2(capsys, args, message):
    code, _, err = check_env(capsys, *args)
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_distribution_mismatch_passes_one_distribution_and_names_a_shifted_class_or_share():
    """The z-tests behind batch_equals_reset (and the shipped SimulatorContract suite)."""
    import numpy as np

    from feedback_loop.envs.data_checks import distribution_mismatch

    rng = np.random.default_rng(0)

    def draw(n, shift=0.0, p=None):
        y = rng.choice(3, size=n, p=p)
        x = rng.normal(size=(n, 4)) + y[:, None]
        x[y == 2, 1] += shift
        return x, y

    names = ("sample_batch", "500 resets")
    assert distribution_mismatch(*draw(500), *draw(500), 3, names) is None
    shifted = distribution_mismatch(*draw(500), *draw(500, shift=1.0), 3, names)
    assert shifted is not None and shifted.startswith("class 2 samples from sample_batch and 500 resets differ (feature 1")
    share = distribution_mismatch(*draw(500), *draw(500, p=[0.6, 0.2, 0.2]), 3, names)
    assert share is not None and share.startswith("class 0 is ") and "of 500 resets" in share


class LineSim(Simulator):
    """A tiny regression simulator: noisy lines labelled with their (slope, offset)."""

    task = "regression"
    label_names = ("slope", "offset")

    def __init__(self) -> None:
        super().__init__()
        self.param_space = spaces.Dict({"noise": spaces.Box(0.0, 1.0, shape=(), dtype=np.float32),
                                        "spread": spaces.Box(0.1, 2.0, shape=(), dtype=np.float32)})
        self.nominal_params = {"noise": 0.1, "spread": 1.0}
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(8,), dtype=np.float32)

    def sample_batch(self, params, n, seed):
        p = self.check_params(params, n)
        rng = np.random.default_rng(seed)
        spread = np.broadcast_to(np.asarray(p["spread"], dtype=np.float64), (n,))
        label = rng.uniform(-1.0, 1.0, size=(n, 2)) * spread[:, None]
        noise = np.broadcast_to(np.asarray(p["noise"], dtype=np.float64), (n,))
        x = label[:, :1] * np.linspace(0.0, 1.0, 8) + label[:, 1:] + noise[:, None] * rng.standard_normal((n, 8))
        return x.astype(np.float32), label.astype(np.float32)

def test_a_regression_simulator_reports_its_task_and_label_spec(capsys):
    code, lines, _ = check_env(capsys, "tests.test_check_env:LineSim", "--samples", "100")
    assert code == 0, "\n".join(lines)
    assert lines[0] == "task: regression (score mae, lower is better), labels float32 of shape (2,) (slope, offset)"
    assert statuses(lines) == {check.name: "ok" for check in CHECKS}


def test_the_task_line_names_classes_and_says_when_labels_were_not_checked(capsys):
    _, lines, _ = check_env(capsys, "feedback_loop/GaussianMixture-v0", "--samples", "100")
    assert lines[0] == "task: classification (score accuracy, higher is better), labels int64 of shape (), 2 classes"
    from feedback_loop.check_env import task_line

    assert task_line(None, {"task": "fail"}) is None  # the FAIL line says why
    assert task_line(None, {"task": "ok", "labels_in_range": "skip"}).endswith(
        "labels not described (labels_in_range did not pass)")
