"""Resources fit the machine: unset CPU/GPU shares are decided from what Ray has; explicit ones are kept,
and an impossible explicit request names the setting that decides how many actors there are."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback_loop.config import load_config
from feedback_loop.executors.base import ResourceError
from feedback_loop.executors.shares import PREFERRED_CPUS, fitted, learners_setting

ROOT = Path(__file__).resolve().parents[1]
GM = str(ROOT / "examples" / "gaussian_mixture.yaml")
DIGITS = str(ROOT / "examples" / "digits.yaml")


def test_a_population_on_two_cpus_is_fitted_not_refused():
    """The issue's case: PBT's 4 members and a generator used to ask for 3.5 of 2 CPUs and be refused."""
    config = load_config(GM, ["policy.name=pbt"])
    res, _ = fitted(config, generators=1, learners=4, persistent=True, have={"CPU": 2.0})
    assert res.generator_cpus + 4 * res.learner_cpus <= 2.0
    assert res.learner_cpus / res.generator_cpus == pytest.approx(0.75 / 0.5, rel=1e-3)  # scaled together
    assert res.learner_gpus == res.generator_gpus == 0.0  # no GPU: CPU


def test_with_room_the_preferred_shares_are_kept():
    res, refiner = fitted(load_config(GM), generators=1, learners=2, persistent=False, have={"CPU": 16.0})
    assert (res.generator_cpus, res.learner_cpus) == (PREFERRED_CPUS["generator"], PREFERRED_CPUS["learner"])


def test_explicit_shares_are_kept_and_the_rest_fit_around_them():
    config = load_config(GM, ["resources.learner_cpus=0.5"])
    res, _ = fitted(config, generators=1, learners=2, persistent=False, have={"CPU": 1.5})
    assert res.learner_cpus == 0.5 and res.generator_cpus == pytest.approx(0.5)
    res, _ = fitted(config, generators=1, learners=2, persistent=False, have={"CPU": 1.2})
    assert res.learner_cpus == 0.5 and 0 < res.generator_cpus <= 0.2


def test_an_impossible_explicit_share_names_the_population_not_resources_learners():
    config = load_config(GM, ["policy.name=pbt", "resources.learner_cpus=0.75"])
    with pytest.raises(ResourceError) as info:
        fitted(config, generators=1, learners=4, persistent=True, have={"CPU": 2.0})
    message = str(info.value)
    assert "4 learners × 0.75" in message and "lower policy.options.population" in message, message
    assert "leave resources.learner_cpus unset" in message and "lower resources.learners" not in message


def test_an_impossible_count_names_the_count_setting():
    with pytest.raises(ResourceError, match="lower resources.generators or resources.learners"):
        fitted(load_config(GM, ["resources.learners=60"]), generators=1, learners=60, persistent=False,
               have={"CPU": 2.0})


def test_a_joined_cluster_may_grow_so_it_is_not_refused():
    config = load_config(GM, ["policy.name=pbt", "resources.learner_cpus=0.75"])
    res, _ = fitted(config, generators=1, learners=4, persistent=True, have={"CPU": 2.0}, strict=False)
    assert res.learner_cpus == 0.75


def test_learners_and_refiner_share_the_gpus_and_generators_stay_on_cpu():
    config = load_config(DIGITS, ["refiner.name=simgan"])
    res, refiner = fitted(config, generators=1, learners=2, persistent=False, have={"CPU": 8.0, "GPU": 1.0})
    assert res.generator_gpus == 0.0 and res.learner_gpus == refiner.gpus == pytest.approx(0.3333)
    assert refiner.cpus == PREFERRED_CPUS["refiner"]
    res, _ = fitted(load_config(DIGITS, ["resources.learner_gpus=0"]), generators=1, learners=2, persistent=False,
                    have={"CPU": 8.0, "GPU": 1.0})
    assert res.learner_gpus == 0.0  # explicit: kept


@pytest.mark.parametrize("overrides, setting", [
    ([], "resources.learners"),
    (["policy.name=pbt"], "policy.options.population"),
    (["policy.name=adr"], "policy.name ('adr': one persistent learner)"),
])
def test_the_setting_that_decides_the_learners(overrides, setting):
    config = load_config(GM, overrides)
    from feedback_loop.policies import POLICIES

    persistent = POLICIES[config.policy.name].learner_mode_for(config.policy.options) == "persistent"
    assert learners_setting(config, persistent) == setting


def test_pbt_on_the_two_cpu_ray_runs_with_unset_shares(ray_session, tmp_path):
    """The acceptance case through the real executor, on the session's 2-CPU Ray."""
    from feedback_loop.loop import LoopRunner

    config = load_config(GM, ["policy.name=pbt", "budget.evaluations=4", "learner.samples=100",
                              "learner.persistent_samples=100", "tracking.tracking_uri=none", "name=test-shares-pbt"])
    assert config.resources.learner_cpus is None and config.resources.generator_cpus is None
    summary = LoopRunner(config, tmp_path / "run").run(progress=False)
    assert summary["evaluations"] == 4 and summary["status"] == "finished"
