"""Make ``real.npz``, the "real" readings of this example: run once, and the file was committed.

They are generated, not measured: ``my_sim.Rings`` at a hidden setting that the loop is not told, so
that a run can be judged by how close it gets. 300 validation readings (the score fed back to the
policy) and 300 test readings (reported only). Run it again and you get the same file:

    python make_real_data.py
"""

import numpy as np

from my_sim import Rings

HIDDEN = {"radius": 2.2, "noise": 0.35, "spread": 0.6}

if __name__ == "__main__":
    sim = Rings()
    x, y = sim.sample_batch(HIDDEN, 300, seed=1234)
    x_test, y_test = sim.sample_batch(HIDDEN, 300, seed=5678)
    np.savez("real.npz", x=x, y=y, x_test=x_test, y_test=y_test)
    print(f"wrote real.npz: {len(x)} validation and {len(x_test)} test readings")
