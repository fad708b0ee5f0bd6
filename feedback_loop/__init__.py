"""feedback-loop: close the generation feedback loop for synthetic training data.

``load_model(run_dir)`` loads the model a run delivered; the loop itself is ``feedback_loop.loop``.
This module stays light (no torch, ray or mlflow at import): actor processes import the package.
"""

from typing import Any


def load_model(run_dir: Any) -> Any:
    """The delivered model of a run (``RUN_DIR/model.npz``): a ``LoadedModel`` (torch module + input scaling)."""
    from .delivery import load_model as _load

    return _load(run_dir)


__all__ = ["load_model"]
