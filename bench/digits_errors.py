"""Where the digits model trained on synthetic data fails on real digits, and what the simulator
draws there. For a run's delivered model (and, beside it, a model trained on uniform domain
randomization at the same sample visits): per-class accuracy and the most confused pairs on the
real *test* half (report only), and the real test digits it gets wrong beside the nearest synthetic
digit of the true class and of the class it predicted, rendered at the run's parameters.

    python bench/digits_errors.py --run runs/digits-...   # a finished run of examples/digits.yaml

Writes docs/digits_per_class.png and docs/digits_errors.png (or --out DIR); one JSON line last.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_result  # noqa: E402

from feedback_loop.config import load_config  # noqa: E402
from feedback_loop.delivery import load_model  # noqa: E402
from feedback_loop.diagnostics import class_report, nearest, per_class_figure  # noqa: E402
from feedback_loop.envs.generation import generate_batch  # noqa: E402
from feedback_loop.learners.task_learner import TaskLearner  # noqa: E402
from feedback_loop.plots import plt  # noqa: E402
from feedback_loop.policies import UniformDR  # noqa: E402
from feedback_loop.simulators import make_simulator  # noqa: E402

SHOWN = 12


def uniform_dr_predictions(env, config, samples: int, epochs: int, seed: int, x_test: np.ndarray) -> np.ndarray:
    """Test predictions of the learner trained on ``samples`` fresh uniform-DR digits for ``epochs``."""
    uniform = UniformDR(param_space=env.param_space, nominal_params=env.nominal_params, seed=seed,
                        range_params=getattr(env, "ranges", None))
    (candidate,) = uniform.ask(1)
    x, y = generate_batch(env, candidate.params, ranges=candidate.ranges, n=samples, seed=10_000 + seed)
    learner = {**dataclasses.asdict(config.learner), "epochs": epochs}
    task = TaskLearner(learner, tuple(x.shape[1:]), env.num_classes, real=(x[:1], y[:1], None, None))
    task.evaluate(x, y, seed=seed, keep_model=True)
    import torch

    model = task.new_model(seed)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in task.last_weights.items()})
    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(x_test, dtype=torch.float32) * config.learner.input_scale).argmax(1).numpy()


def errors_figure(x_test, y_test, predicted, synthetic_x, synthetic_y, title: str):
    """Each wrong real digit, then the nearest synthetic digit of its true class and of the predicted one."""
    wrong = np.flatnonzero(predicted != y_test)[:SHOWN]
    figure, axes = plt.subplots(3, max(len(wrong), 1), figsize=(1.1 * max(len(wrong), 1), 4.0), squeeze=False)
    rows = ["real (test)", "nearest synthetic,\ntrue class", "nearest synthetic,\npredicted class"]
    vmax = float(max(x_test.max(), synthetic_x.max())) or 1.0
    for col, index in enumerate(wrong):
        true, said = int(y_test[index]), int(predicted[index])
        images = [x_test[index]]
        for label in (true, said):
            pool = synthetic_x[synthetic_y == label]
            images.append(pool[nearest(x_test[index:index + 1], pool)[0]])
        for row, image in enumerate(images):
            axes[row, col].imshow(image.mean(0), cmap="gray_r", vmin=0, vmax=vmax, interpolation="nearest")
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        axes[0, col].set_title(f"{true}→{said}", fontsize=9)
    for row, name in enumerate(rows):
        axes[row, 0].set_ylabel(name, fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    plt.close(figure)
    return figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a finished run directory of a Digits config (holds model.npz)")
    ap.add_argument("--uniform-samples", type=int, default=200_000,
                    help="uniform-DR training samples (default 200,000 × final.epochs: the main job's 3,000,000 visits); 0: skip")
    ap.add_argument("--synthetic", type=int, default=20_000, help="digits rendered at the run's parameters to search")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs", help="where the two figures go")
    args = ap.parse_args()
    start = time.perf_counter()
    run = Path(args.run)
    summary = json.loads((run / "summary.json").read_text())
    config = load_config(run / "config.yaml")
    env = make_simulator(config.simulator.id, config.simulator.kwargs)
    real = env.real_data()
    delivered = load_model(run)
    reports = {"delivered model": class_report(delivered.predict(real.x_test), real.y_test, env.num_classes)}
    epochs = config.final.epochs or config.learner.epochs
    if args.uniform_samples:
        predicted = uniform_dr_predictions(env, config, args.uniform_samples, epochs, args.seed, real.x_test)
        reports["uniform DR"] = class_report(predicted, real.y_test, env.num_classes)
    params = summary.get("selected_params") or summary["best_params"]
    synthetic_x, synthetic_y = generate_batch(env, params, ranges=summary.get("selected_ranges"), n=args.synthetic,
                                              seed=20_000 + args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_class_figure(reports, title="per-class accuracy on the real test half").savefig(out / "digits_per_class.png", dpi=100)
    errors_figure(real.x_test, real.y_test, delivered.predict(real.x_test), synthetic_x, synthetic_y,
                  "real test digits the delivered model gets wrong, beside the nearest synthetic ones"
                  ).savefig(out / "digits_errors.png", dpi=100)
    result = {"run": str(run), "delivered_test_acc": reports["delivered model"]["accuracy"],
              "delivered_per_class": [round(v, 4) for v in reports["delivered model"]["per_class_accuracy"]],
              "delivered_top_confusions": reports["delivered model"]["top_confusions"],
              "wall_seconds": time.perf_counter() - start}
    if "uniform DR" in reports:
        result.update(uniform_dr_test_acc=reports["uniform DR"]["accuracy"],
                      uniform_dr_per_class=[round(v, 4) for v in reports["uniform DR"]["per_class_accuracy"]],
                      uniform_dr_top_confusions=reports["uniform DR"]["top_confusions"],
                      uniform_dr_train_samples=args.uniform_samples * epochs)
    print_result(result)


if __name__ == "__main__":
    main()
