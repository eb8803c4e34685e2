"""A pretrain run of several students (members): one recipe trained with consecutive seeds, each
member its own ordinary run folder ``<run>/member_<i>``, their unit features averaged at use.

Students of one recipe err differently (the seed changes the initialisation and every draw), so
their mean is better than any one of them (RESULTS, "Issue 16 item 1, step 3"). ``<run>/members.json``
lists the members and their seeds; every command that takes a pretrain run
(``segment``, ``features``, ``eval-segmentation``, ``segment-instances``) reads all members of such
a run through :func:`load_students`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from scene3d.distill.student import DistillStudent
from scene3d.distill.trainer import MEMBERS_FILE, load_student
from scene3d.errors import ConfigError, SceneFormatError
from scene3d.io.atomic import atomic_write_text
from scene3d.train.checkpoint import TrainState


def _record(path: Path) -> dict | None:
    """The members record ``path`` (``{"members": [names], "seeds": [ints]}``), or None if there is none.

    Raises:
        SceneFormatError: the file is not such a record.
    """
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not record["members"] or len(record["members"]) != len(record["seeds"]):
            raise ValueError("one or more members expected, as many as seeds")
        return record
    except (KeyError, TypeError, ValueError) as exc:   # JSONDecodeError is a ValueError
        raise SceneFormatError(path, f"not a members record ({exc})") from None


def plan_members(out_dir: str | Path, members: int, seed: int) -> list[tuple[Path, int]]:
    """The ``(folder, seed)`` of each of the ``members`` students of the run ``out_dir``.

    One member is the run folder itself (seed ``seed``). Several are ``out_dir/member_<i>`` with
    seeds ``seed``, ``seed + 1``, ..., recorded in ``out_dir/members.json`` (atomically); a resumed
    run must ask for the same members.

    Raises:
        ConfigError: ``members < 1``; the folder holds a run of other members or seeds, or (for
            several members) a run of one student.
        SceneFormatError: a malformed ``members.json`` there.
    """
    if members < 1:
        raise ConfigError(f"members={members}: a run has at least one student")
    out_dir = Path(out_dir)
    record = {"members": [f"member_{i}" for i in range(members)], "seeds": [seed + i for i in range(members)]}
    path = out_dir / MEMBERS_FILE
    old = _record(path)
    if old is not None and (members == 1 or old != record):
        raise ConfigError(f"{out_dir} is a run of members {old['members']} with seeds {old['seeds']}: resume it "
                          f"with members={len(old['members'])} loop.seed={old['seeds'][0]}, or give another out=")
    if members == 1:
        return [(out_dir, seed)]
    if (out_dir / "checkpoints").is_dir():
        raise ConfigError(f"{out_dir} holds a run of one student (checkpoints/): give another out= for members={members}")
    if old is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1))
    return [(out_dir / name, s) for name, s in zip(record["members"], record["seeds"])]


def member_folders(path: str | Path) -> list[Path]:
    """The run folders of the students of ``path``: its members when it is a run of members, else
    ``[path]`` (a one-student run or a checkpoint folder).

    Raises:
        SceneFormatError: an unreadable ``members.json``.
    """
    path = Path(path)
    record = _record(path / MEMBERS_FILE)
    return [path] if record is None else [path / str(name) for name in record["members"]]


def load_students(path: str | Path, device: torch.device | str = "cpu") -> tuple[list[DistillStudent], TrainState]:
    """Every student of the pretrain run ``path`` (all members of a run of members, else the one
    student; :func:`load_student`), on ``device`` in eval mode, and the first one's training state.

    Raises:
        SceneFormatError: a member (or the run) has no checkpoint yet: finish the run first
            (``scene3d pretrain`` with the same ``out=`` resumes it).
    """
    loaded = [load_student(folder, device=device) for folder in member_folders(path)]
    return [model for model, _ in loaded], loaded[0][1]
