"""Built-in simulator ``feedback_loop/Digits-v0``: procedural handwriting in the UCI optdigits format."""

from .env import DigitsEnv, uniform_params, variant_param
from .glyphs import VARIANTS
from .real import SPLIT_SEED, load_real_digits

__all__ = ["DigitsEnv", "VARIANTS", "SPLIT_SEED", "load_real_digits", "uniform_params", "variant_param"]
