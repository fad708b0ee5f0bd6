"""Gymnasium ids for the built-in simulators."""

import gymnasium as gym

BUILTIN_ENVS = {
    "feedback_loop/GaussianMixture-v0": "feedback_loop.envs.gaussian_mixture:GaussianMixtureEnv",
    "feedback_loop/Digits-v0": "feedback_loop.envs.digits.env:DigitsEnv",
    "feedback_loop/Shapes-v0": "feedback_loop.envs.shapes.env:ShapesEnv",
    "feedback_loop/Gaze-v0": "feedback_loop.envs.gaze.env:GazeEnv",
}


def register_builtin_envs() -> None:
    """Register every built-in simulator once (idempotent)."""
    for env_id, entry_point in BUILTIN_ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)
