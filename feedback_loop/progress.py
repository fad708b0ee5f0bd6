"""A progress bar for the loop: evaluations done, best score so far, elapsed time."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from .callbacks import Callback
from .ledger import Ledger
from .types import Result


class ProgressBar(Callback):
    """A tqdm bar over the evaluation budget showing the best score so far; updated per checkpoint."""

    def __init__(self, total: int | None, ledger: Ledger, elapsed: Any) -> None:
        self.ledger = ledger
        self.elapsed = elapsed
        self._bar = tqdm(total=total, initial=ledger.evaluations, desc="evaluations", unit="eval",
                         file=sys.stderr, dynamic_ncols=True, leave=True)
        self._show()

    def _show(self) -> None:
        best = self.ledger.best_score
        self._bar.set_postfix_str(f"best={'-' if best is None else f'{best:.4f}'} elapsed={self.elapsed():.0f}s",
                                  refresh=False)

    def after_checkpoint(self, results: list[Result]) -> None:
        self._show()
        self._bar.update(self.ledger.evaluations - self._bar.n)  # tqdm rate-limits redraws itself

    def close(self) -> None:
        self._bar.close()
