"""Shared fixtures: one Ray instance and one MLflow store for the whole test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_ACCEPT_LOCAL_GPU_RESOURCES", "1")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray sized to this machine's 2 cores, with 2 *logical* GPUs to test GPU scheduling."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    """One SQLite MLflow store for the session (creating its tables takes seconds)."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    return f"sqlite:///{path}"


@pytest.fixture
def gm_env():
    import gymnasium as gym

    import feedback_loop.envs  # noqa: F401  (registers the ids)

    return gym.make("feedback_loop/GaussianMixture-v0").unwrapped
