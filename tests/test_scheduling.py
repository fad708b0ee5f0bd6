"""Placement of the loop's actors on *logical* GPUs (the session's Ray has 2 CPUs and 2 logical GPUs).

Ray's GPU counts are bookkeeping: on this CPU machine the actors train on CPU, but they must be
packed and scheduled exactly as the config asks, and a config Ray could never place must be a clear
``ResourceError`` instead of an actor pending forever.
"""

from __future__ import annotations

import time

import pytest

from feedback_loop.actors import GeneratorActor, LearnerActor
from feedback_loop.config import load_config
from feedback_loop.executors import ResourceError
from feedback_loop.executors.resources import gpus_to_pack
from feedback_loop.loop import LoopRunner

TINY = ["learner.samples=200", "learner.epochs=2", "budget.evaluations=2", "name=test-scheduling"]


def config(*extra: str):
    return load_config("examples/gaussian_mixture.yaml", TINY + list(extra))


def wait_for(predicate, timeout: float = 20.0):
    """Ray's resource view is updated asynchronously: poll until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def learner_actor(ray, gpus: float, cpus: float):
    learner = {"model": "mlp", "hidden": 8, "seed": 0, "epochs": 1, "batch_size": 4, "lr": 1e-3,
               "weight_decay": 0.0, "input_scale": 1.0}
    return LearnerActor.options(num_gpus=gpus, num_cpus=cpus).remote(learner, (2,), 2, cpus)


@pytest.mark.parametrize(("requests", "gpus"), [
    ([0.5, 0.5], 1), ([0.5, 0.5, 0.5], 2), ([0.6, 0.6, 0.6], 3), ([0.25] * 4, 1), ([1, 0.5, 0.5], 2),
    ([0.0, 0.0], 0), ([2, 0.3], 3),
])
def test_gpu_shares_are_bin_packed(requests, gpus):
    assert gpus_to_pack(requests) == gpus


def test_two_half_gpu_learners_share_one_gpu(ray_session):
    ray = ray_session
    # Actors killed by earlier tests release their GPU shares asynchronously: start from all free.
    total = ray.cluster_resources().get("GPU", 0.0)
    assert wait_for(lambda: abs(ray.available_resources().get("GPU", 0.0) - total) < 1e-6)
    before = ray.available_resources().get("GPU", 0.0)
    actors = [learner_actor(ray, 0.5, 0.25) for _ in range(2)]
    try:
        gpu_ids = ray.get([a.__ray_call__.remote(lambda self: ray.get_gpu_ids()) for a in actors], timeout=60)
        assert gpu_ids[0] == gpu_ids[1] and len(gpu_ids[0]) == 1  # packed on one GPU, both alive
        assert ray.get([a.device_name.remote() for a in actors]) == ["cpu", "cpu"]  # no real GPU here
        assert wait_for(lambda: abs(before - ray.available_resources().get("GPU", 0.0) - 1.0) < 1e-6)
    finally:
        for actor in actors:
            ray.kill(actor)
    assert wait_for(lambda: abs(ray.available_resources().get("GPU", 0.0) - before) < 1e-6)


def test_actor_cpu_share_sets_torch_threads(ray_session):
    ray = ray_session
    actor = GeneratorActor.options(num_cpus=0.5).remote("feedback_loop/GaussianMixture-v0", {}, 0.5)
    try:
        threads = ray.get(actor.__ray_call__.remote(lambda self: __import__("torch").get_num_threads()), timeout=60)
        assert threads == 1  # a fractional CPU share is one torch thread, never every core
    finally:
        ray.kill(actor)


def test_loop_reserves_configured_cpus_and_gpus(ray_session, tracking_uri, tmp_path):
    """2 learners × (0.5 GPU, 0.5 CPU) + 1 generator × (0.25 GPU, 0.5 CPU): held while the loop runs."""
    ray = ray_session
    total = ray.cluster_resources()
    seen = []

    def used():
        free = ray.available_resources()
        return round(total["GPU"] - free.get("GPU", 0.0), 6), round(total["CPU"] - free.get("CPU", 0.0), 6)

    def snapshot(candidate, outcome):
        wait_for(lambda: used()[0] == 1.25)
        seen.append(used())

    cfg = config("resources.learners=2", "resources.learner_gpus=0.5", "resources.learner_cpus=0.5",
                 "resources.generators=1", "resources.generator_gpus=0.25", "resources.generator_cpus=0.5")
    summary = LoopRunner(cfg, tmp_path / "run", tracking_uri=tracking_uri).run(progress=False, on_outcome=snapshot)
    assert summary["status"] == "finished" and summary["evaluations"] == 2
    assert seen and seen[0] == (1.25, 1.5)
    # the actors are gone after the run: everything is given back
    assert wait_for(lambda: abs(ray.available_resources().get("GPU", 0.0) - total["GPU"]) < 1e-6)


@pytest.mark.parametrize(("learners", "share", "needed"), [(5, 0.5, 3), (3, 0.6, 3)])
def test_gpu_shares_that_cannot_be_placed_are_a_clear_error(ray_session, tracking_uri, tmp_path,
                                                            learners, share, needed):
    # 3 × 0.6 = 1.8 GPUs would pass a plain sum check on 2 GPUs, yet Ray can place only two of them.
    cfg = config(f"resources.learners={learners}", f"resources.learner_gpus={share}", "resources.learner_cpus=0.1",
                 "resources.generator_cpus=0.1")
    with pytest.raises(ResourceError, match=f"need {needed} GPUs .* Ray has 2"):
        LoopRunner(cfg, tmp_path / "run", tracking_uri=tracking_uri).run(progress=False)


def test_gpu_request_on_a_gpu_less_count_is_a_clear_error(ray_session, tracking_uri, tmp_path):
    cfg = config("resources.learners=1", "resources.learner_gpus=3", "resources.learner_cpus=0.5")
    with pytest.raises(ResourceError, match="need 3 GPUs"):
        LoopRunner(cfg, tmp_path / "run", tracking_uri=tracking_uri).run(progress=False)


def test_placement_pack_keeps_each_generator_with_its_learner(ray_session, tracking_uri, tmp_path):
    """placement: pack puts each learner slot (its generator + its learner) in one placement group."""
    from ray.util import placement_group_table

    from tests.test_loop import tiny_config

    config = tiny_config(4, "resources.placement=pack", "resources.learners=2", "resources.learner_cpus=0.5",
                         "resources.generator_cpus=0.25", name="test-pack")
    runner = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri)
    groups_seen = []

    def record(candidate, outcome):
        if not groups_seen:
            groups_seen.extend(runner.executor.slots)

    summary = runner.run(progress=False, on_outcome=record)
    assert summary["evaluations"] == 4 and summary["status"] == "finished"
    assert len(groups_seen) == 2
    for group in groups_seen:
        entry = placement_group_table(group)
        assert entry["strategy"] == "STRICT_PACK"
        assert [b.get("CPU") for b in entry["bundles"].values()] == [0.25, 0.5]
    # removed with the actors at the end of the run
    assert all(placement_group_table(g)["state"] == "REMOVED" for g in groups_seen)
