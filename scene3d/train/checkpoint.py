"""Checkpoints: weights as safetensors, everything else as JSON; written atomically.

A checkpoint folder ``<dir>/step_<N>/`` holds ``model.safetensors``,
``optimizer.safetensors`` (the optimizer's tensors, flattened) and ``state.json``
(step, epoch, RNG states, the optimizer's non-tensor state, the fp16 loss scaler's state,
metrics). ``latest``
names the newest complete one; a run killed while writing leaves the previous
checkpoint as ``latest``. Nothing is unpickled: loading never runs code.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from scene3d.errors import SceneFormatError
from scene3d.io.atomic import atomic_dir, atomic_write_text


@dataclass
class TrainState:
    """Where training stands (restored on resume)."""

    step: int = 0
    epoch: int = 0
    best: float | None = None
    extra: dict = field(default_factory=dict)


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state_meta: dict[str, dict] = {}
    for pid, st in sd["state"].items():
        meta = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
                meta[k] = "__tensor__"
            else:
                meta[k] = v
        state_meta[str(pid)] = meta
    return tensors, {"state": state_meta, "param_groups": sd["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for pid, st in meta["state"].items():
        state[int(pid)] = {k: (tensors[f"{pid}.{k}"] if v == "__tensor__" else v) for k, v in st.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_state() -> dict:
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state().tolist(),
    }


def _set_rng_state(s: dict) -> None:
    version, internal, gauss = s["python"]
    random.setstate((version, tuple(internal), gauss))
    keys, pos, has_gauss, cached = s["numpy"]
    np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(s["torch"], dtype=torch.uint8))


class Checkpointer:
    """Saves and restores (model, optimizer, TrainState) under ``folder``.

    Args:
        folder: the run's checkpoint folder.
        keep: how many checkpoints to keep (oldest removed first).
    """

    def __init__(self, folder: str | Path, keep: int = 2):
        self.folder, self.keep = Path(folder), keep

    def save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, state: TrainState,
             scaler: torch.amp.GradScaler | None = None) -> Path:
        """Write ``step_<state.step>`` atomically, then point ``latest`` at it (with ``scaler``'s
        state when given: fp16 training)."""
        name = f"step_{state.step:08d}"
        with atomic_dir(self.folder / name) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                      str(tmp / "model.safetensors"))
            record = {"train_state": asdict(state), "rng": _rng_state()}
            if optimizer is not None:
                tensors, meta = _flatten_optimizer(optimizer)
                save_file(tensors, str(tmp / "optimizer.safetensors"))
                record["optimizer"] = meta
            if scaler is not None:
                record["scaler"] = scaler.state_dict()
            atomic_write_text(tmp / "state.json", json.dumps(record))
        atomic_write_text(self.folder / "latest", name)
        old = sorted(p for p in self.folder.glob("step_*") if p.is_dir())
        for p in old[: max(0, len(old) - self.keep)]:
            shutil.rmtree(p, ignore_errors=True)
        return self.folder / name

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        pointer = self.folder / "latest"
        if not pointer.is_file():
            return None
        path = self.folder / pointer.read_text().strip()
        return path if (path / "state.json").is_file() else None

    def load(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
             path: str | Path | None = None, restore_rng: bool = True,
             scaler: torch.amp.GradScaler | None = None) -> TrainState:
        """Restore into ``model`` (and ``optimizer``, and ``scaler`` when the checkpoint holds a
        scaler state: a run saved in another precision leaves ``scaler`` fresh) from ``path`` or
        the latest checkpoint.

        Raises:
            SceneFormatError: no checkpoint, or a malformed one (naming the file).
        """
        path = Path(path) if path is not None else self.latest()
        if path is None:
            raise SceneFormatError(self.folder, "no checkpoint to resume from")
        try:
            record = json.loads((path / "state.json").read_text())
            model.load_state_dict(load_file(str(path / "model.safetensors")))
            if optimizer is not None and "optimizer" in record:
                optimizer.load_state_dict(_unflatten_optimizer(load_file(str(path / "optimizer.safetensors")),
                                                               record["optimizer"]))
            if scaler is not None and "scaler" in record:
                scaler.load_state_dict(record["scaler"])
        except Exception as exc:  # noqa: BLE001 - safetensors, torch and json raise their own kinds
            raise SceneFormatError(path, f"cannot restore the checkpoint ({exc})") from None
        if restore_rng:
            _set_rng_state(record["rng"])
        return TrainState(**record["train_state"])
