"""Built-in simulator ``feedback_loop/Gaze-v0``: procedural 36x60 eye patches labelled with gaze (pitch, yaw).

Its ``real_data()`` target is itself generated (``target.py``): synthetic-to-synthetic, as Meta-Sim's
MNIST experiment. The target module is not imported here.
"""

from .env import FACTORS, RANGES, GazeEnv

__all__ = ["GazeEnv", "FACTORS", "RANGES"]
