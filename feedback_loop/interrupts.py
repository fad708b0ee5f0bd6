"""Ctrl-C as a request: the loop stops at a safe point, never inside an MLflow or checkpoint write."""

from __future__ import annotations

import signal
import threading


class StopRequest:
    """While active, the first SIGINT only sets ``requested``; a second one interrupts at once.

    Use as a context manager around the loop; the previous handler is restored on exit. Outside
    the main thread (where signals cannot be caught) it does nothing.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
