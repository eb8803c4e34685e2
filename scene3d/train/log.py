"""Metrics to CSV (appended, survives interruptions) and a PNG plot of them."""

from __future__ import annotations

import csv
from pathlib import Path

from scene3d.io.atomic import atomic_path


class MetricLog:
    """Rows of ``{step, name: value}`` appended to ``<folder>/metrics.csv``.

    On resume, rows after the restored step are dropped, so the file matches the
    checkpoint exactly.
    """

    def __init__(self, folder: str | Path, resume_step: int | None = None):
        self.path = Path(folder) / "metrics.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, float]] = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
            if resume_step is not None:
                self.rows = [r for r in self.rows if r["step"] <= resume_step]
            self._rewrite()

    def _rewrite(self) -> None:
        keys = sorted({k for r in self.rows for k in r} - {"step"})
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", *keys])
            w.writeheader()
            w.writerows(self.rows)

    def log(self, step: int, **values: float) -> None:
        """Record ``values`` at ``step`` (the CSV is rewritten atomically)."""
        self.rows.append({"step": float(step), **{k: float(v) for k, v in values.items()}})
        self._rewrite()

    def plot(self, path: str | Path | None = None) -> Path:
        """One panel per metric against the step (PNG)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path) if path is not None else self.path.with_suffix(".png")
        keys = sorted({k for r in self.rows for k in r} - {"step"})
        fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4 * max(len(keys), 1), 3), squeeze=False)
        for ax, key in zip(axes[0], keys):
            pts = [(r["step"], r[key]) for r in self.rows if key in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".")
            ax.set_title(key, fontsize=9)
            ax.set_xlabel("step")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)
        return path
