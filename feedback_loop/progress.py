"""A progress bar for the loop: the budget spent, the best score so far, elapsed time."""

from __future__ import annotations

import sys
from typing import Callable

from tqdm import tqdm

from .callbacks import Callback
from .config import BudgetConfig
from .ledger import Ledger
from .types import Result


class ProgressBar(Callback):
    """A tqdm bar over the budget — training sample visits when ``budget.train_samples`` is set,
    else evaluations — showing the best score so far; updated after each checkpoint."""

    def __init__(self, budget: BudgetConfig, ledger: Ledger, elapsed: Callable[[], float]) -> None:
        self.ledger = ledger
        self.elapsed = elapsed
        self._count: Callable[[], int]
        if budget.train_samples:
            self._count, total, desc, unit = (lambda: ledger.train_samples), budget.train_samples, "train samples", "visits"
        else:
            self._count, total, desc, unit = (lambda: ledger.evaluations), budget.evaluations, "evaluations", "eval"
        self._bar = tqdm(total=total, initial=self._count(), desc=desc, unit=unit, unit_scale=bool(budget.train_samples),
                         file=sys.stderr, dynamic_ncols=True, leave=True)
        self._show()

    def _show(self) -> None:
        best = self.ledger.best_score
        self._bar.set_postfix_str(f"evaluations={self.ledger.evaluations} best={'-' if best is None else f'{best:.4f}'} "
                                  f"elapsed={self.elapsed():.0f}s", refresh=False)

    def after_checkpoint(self, results: list[Result]) -> None:
        self._show()
        self._bar.update(self._count() - self._bar.n)  # tqdm rate-limits redraws itself

    def close(self) -> None:
        self._bar.close()


