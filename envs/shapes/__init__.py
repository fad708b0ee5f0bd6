"""Built-in simulator ``feedback_loop/Shapes-v0``: ellipses and rectangles, segmented per pixel."""

from .env import FACTORS, RANGES, SCALARS, ShapesEnv

__all__ = ["FACTORS", "RANGES", "SCALARS", "ShapesEnv"]
