"""Real data for ``tests/test_config_walk.py``'s ``data.real`` value: the Gaussian mixture's own, halved.

A ``module:function`` source (``data.real: tests.config_walk_data:half_gaussian_mixture``) that differs
from what any example scores against, so that setting ``data.real`` must change what a run sees.
"""

from __future__ import annotations

from feedback_loop.envs import RealData


def half_gaussian_mixture() -> RealData:
    from feedback_loop.envs.gaussian_mixture import GaussianMixtureEnv

    real = GaussianMixtureEnv().real_data()
    half = len(real.x_val) // 2
    return RealData(real.x_val[:half], real.y_val[:half], real.x_test, real.y_test)
