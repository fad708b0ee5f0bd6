"""Importing user code named in a config as ``module:attribute``."""

from __future__ import annotations

import importlib
from typing import Any


class ImportPathError(ValueError):
    """An import path from a config could not be resolved; the message says how to fix it."""


def is_import_path(text: str) -> bool:
    return ":" in text and "/" not in text.split(":", 1)[0]


def import_object(path: str, what: str) -> Any:
    """The object at ``module.sub:attribute``; ``what`` names the config field, for errors."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ImportPathError(f"{what}: {path!r} is not an import path of the form 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportPathError(
            f"{what}: cannot import module {module_name!r} ({err}); is it installed or on PYTHONPATH?"
        ) from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportPathError(f"{what}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
