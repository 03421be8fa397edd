"""Metrics to JSONL and TensorBoard, and the reward/success curves as a PNG at the end."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Appends one JSON object per line to ``out_dir/metrics.jsonl`` and mirrors scalars to TensorBoard.

    On resume (``resume_step``), lines logged after that step (by the run that crashed) are
    dropped first so the file reads as one uninterrupted run.
    """

    def __init__(self, out_dir: str | Path, tensorboard: bool = True, resume_step: int | None = None):
        self.path = Path(out_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            keep = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= resume_step
            ]
            self.path.write_text("".join(line + "\n" for line in keep))
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                warnings.warn(
                    "tensorboard is not installed (pip install tensorboard): metrics go to JSONL only", stacklevel=2
                )
            else:
                purge = None if resume_step is None else resume_step + 1
                self.writer = SummaryWriter(str(Path(out_dir) / "tensorboard"), purge_step=purge)

    def log(self, step: int, phase: str, metrics: dict[str, Any]) -> None:
        row = {
            "step": int(step),
            "phase": phase,
            "wall_time": round(time.time(), 3),
            **{k: _jsonable(v) for k, v in metrics.items()},
        }
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self.writer.add_scalar(f"{phase}/{k}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def plot_curves(metrics_path: str | Path, out_png: str | Path, title: str = "") -> Path:
    """Reward and success per RL step (eval points marked), and the SFT loss, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_path)
    rl = [r for r in rows if r["phase"] == "rl"]
    sft = [r for r in rows if r["phase"] == "sft"]
    evals = [r for r in rows if r["phase"] == "eval"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    if rl:
        ax.plot([r["step"] for r in rl], [r.get("reward_mean") for r in rl], label="reward (train rollouts)")
        ax.plot([r["step"] for r in rl], [r.get("success_rate") for r in rl], label="success (train rollouts)")
    if evals:
        ax.plot(
            [r["step"] for r in evals], [r.get("success_rate") for r in evals], "o--", label="success (held-out eval)"
        )
        for r in evals:
            ax.annotate(str(r.get("tag", "")), (r["step"], r.get("success_rate") or 0), fontsize=7)
    ax.set_xlabel("optimizer step")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("reward and success")
    ax.legend(fontsize=8)
    ax = axes[1]
    if sft:
        ax.plot([r["step"] for r in sft], [r.get("loss") for r in sft], label="SFT loss")
    if rl:
        ax.plot([r["step"] for r in rl], [r.get("loss") for r in rl], label="RL loss")
    ax.set_xlabel("optimizer step")
    ax.set_title("loss")
    ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
