"""The refiner is refit once per multiple of ``refiner.refresh_every`` the search crosses: never in
selection or the final stage (where the evaluation count stops moving), never twice across a resume."""

from __future__ import annotations

import pytest

from feedback_loop.checkpoint import CHECKPOINT_FILE, load_checkpoint
from feedback_loop.config import load_config
from feedback_loop.executors.refiner_stage import RefinerStage
from feedback_loop.loop import LoopRunner, resume_loop
from tests.test_loop import SimulatedCrash, crash_after

REFRESH_STEPS = 3


def _config(name: str):
    # 4 evaluations, a refit due at 2 and 4; then 2 re-scorings and the final model, during which the
    # count sits on 4, a multiple of refresh_every
    return load_config("examples/digits.yaml", [
        "budget.evaluations=4", "budget.train_samples=null", "search.rungs=1", "selection.candidates=2",
        "selection.seeds=1", "final.samples=200", "final.epochs=1", "learner.samples=200", "learner.epochs=1",
        "resources.learners=1", "resources.prefetch=0", "resources.learner_cpus=1", "policy.name=random",
        "refiner.name=simgan", "refiner.fit_samples=128", "refiner.refresh_every=2",
        f"refiner.refresh_steps={REFRESH_STEPS}", f"name={name}",
        "refiner.options={steps: 3, pretrain_refiner_steps: 2, pretrain_disc_steps: 2, channels: 4, blocks: 1}"])


@pytest.fixture
def refits(monkeypatch):
    """Every refit (a fit with the refresh's steps; the first fit has none), as the stage saw it."""
    seen: list[int] = []
    fit = RefinerStage.fit

    def counting_fit(self, shard_ref, steps):
        if steps is not None:
            seen.append(steps)
        return fit(self, shard_ref, steps)

    monkeypatch.setattr(RefinerStage, "fit", counting_fit)
    return seen


def test_refit_once_per_crossing_never_after_the_search_and_not_again_on_resume(
        ray_session, tracking_uri, tmp_path, refits):
    run_dir = tmp_path / "run"
    crash_at_third, _ = crash_after(3)  # after the checkpoint that counts the refit at 2
    with pytest.raises(SimulatedCrash):
        LoopRunner(_config("test-refits"), run_dir, tracking_uri=tracking_uri).run(progress=False,
                                                                                on_outcome=crash_at_third)
    assert refits == [REFRESH_STEPS]  # at 2 evaluations
    assert load_checkpoint(run_dir / CHECKPOINT_FILE)["executor"] == {"refiner_refits": 1}
    summary = resume_loop(run_dir, progress=False)
    assert summary["status"] == "finished" and summary["evaluations"] == 4
    assert len(summary["selection"]) == 2
    # the search ended on 4 evaluations: the re-scored candidates and the final model all saw one
    # refiner (the old check refit after each of their results), and the resume did not refit at 2 again
    assert refits == [REFRESH_STEPS]


def test_due_is_keyed_to_crossings_of_refresh_every():
    stage = RefinerStage.__new__(RefinerStage)  # the bookkeeping alone, without its actor
    stage.cfg, stage.refits = _config("test-due").refiner, 0
    assert not stage.due(1, searching=True) and stage.due(2, searching=True)
    stage.refreshed(2)
    assert not stage.due(2, searching=True) and not stage.due(3, searching=True)
    assert stage.due(5, searching=True)  # 4 crossed within a batch of results
    assert not stage.due(5, searching=False)  # selection or the final stage
    stage.refreshed(5)
    assert stage.refits == 2 and not stage.due(5, searching=True)
