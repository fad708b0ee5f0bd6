"""A progress bar for the loop: evaluations done, best score so far, elapsed time."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    """Thin wrapper over tqdm that shows the best score so far; a no-op when disabled."""

    def __init__(self, total: int | None, initial: int, enabled: bool, best: float | None, elapsed: float) -> None:
        self._bar = None
        if enabled:
            self._bar = tqdm(total=total, initial=initial, desc="evaluations", unit="eval",
                             file=sys.stderr, dynamic_ncols=True, leave=True)
            self._show(best, elapsed)

    def _show(self, best: float | None, elapsed: float) -> None:
        self._bar.set_postfix_str(f"best={'-' if best is None else f'{best:.4f}'} elapsed={elapsed:.0f}s", refresh=False)

    def update(self, done: int, best: float | None, elapsed: float) -> None:
        if self._bar is not None:
            self._show(best, elapsed)
            self._bar.update(done - self._bar.n)  # tqdm rate-limits redraws itself

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
