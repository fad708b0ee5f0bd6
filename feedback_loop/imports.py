"""Importing user code named in a config as ``module:attribute``.

The current folder rule: like ``python -m``, uvicorn and celery, a ``module:attribute`` path
resolves from the **current working directory first**, then from the installed packages. So a
``my_sim.py`` next to ``my.yaml`` is found by ``feedback-loop run my.yaml`` without
``PYTHONPATH=.``. ``import_object`` puts the absolute current folder at the front of ``sys.path``
when it is not there already (``''`` counts as the current folder); it does this when a config
actually names an import path, so a library caller that never uses one sees no change.

Ray workers find the same modules: a local Ray puts the driver's current folder first on every
worker's ``sys.path`` (and starts workers in it); a job submitted with
``ray job submit --working-dir .`` runs the driver and every worker inside the shipped copy of the
folder, which this rule then finds (see ``executors/resources.py``).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .errors import UserError

# Top-level module names that were imported from the current folder (reported when code may not
# have been shipped to the workers of a multi-node cluster).
modules_from_cwd: set[str] = set()


class ImportPathError(UserError, ValueError):
    """An import path from a config could not be resolved; the message says how to fix it."""


def is_import_path(text: str) -> bool:
    return ":" in text and "/" not in text.split(":", 1)[0]


def _same_dir(entry: str, folder: str) -> bool:
    try:
        return os.path.samefile(entry or os.curdir, folder)
    except OSError:
        return False


def ensure_cwd_importable() -> str:
    """Put the current folder first on ``sys.path`` unless it is on it already; returns the folder."""
    cwd = os.getcwd()
    if not any(_same_dir(entry, cwd) for entry in sys.path if isinstance(entry, str)):
        sys.path.insert(0, cwd)
        importlib.invalidate_caches()
    return cwd


def _import_module(module_name: str, path: str, what: str) -> Any:
    cwd = ensure_cwd_importable()
    top = module_name.split(".", 1)[0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and (module_name == err.name or module_name.startswith(err.name + ".")):
            # The named module itself (or one of its parent packages) does not exist.
            raise ImportPathError(
                f"{what}: cannot import module {module_name!r} from the current folder {cwd} or the "
                f"installed packages ({err}); run from the folder that holds {top}.py (or the package "
                f"{top}/), install it, or add its folder to PYTHONPATH"
            ) from err
        raise ImportPathError(
            f"{what}: module {module_name!r} was found but failed to import: {err}; install the missing package"
        ) from err
    except Exception as err:  # a SyntaxError, or an exception raised by the module's own top-level code
        raise ImportPathError(
            f"{what}: importing module {module_name!r} for {path!r} raised {type(err).__name__}: {err} "
            "(run with --debug for the traceback)"
        ) from err
    origin = getattr(sys.modules.get(top), "__file__", None)
    if origin:
        folder = os.path.dirname(origin)
        if os.path.basename(origin) == "__init__.py":  # a package: its parent folder is what sys.path holds
            folder = os.path.dirname(folder)
        if _same_dir(folder, cwd):
            modules_from_cwd.add(top)
    return module


def import_object(path: str, what: str) -> Any:
    """The object at ``module.sub:attribute``; ``what`` names the config field, for errors.

    The module is looked up in the current folder first, then in the installed packages.
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ImportPathError(f"{what}: {path!r} is not an import path of the form 'package.module:name'")
    module = _import_module(module_name, path, what)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportPathError(f"{what}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
