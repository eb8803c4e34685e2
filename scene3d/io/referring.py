"""Readers of real referring-expression datasets -> Utterance records.

* ReferIt3D CSV (Nr3D human-written, Sr3D template-generated):
  ``scan_id, target_id, utterance, instance_type, stimulus_id`` (+ Sr3D's
  ``anchor_ids, distractor_ids, reference_type``).
* ScanRefer JSON: a list of ``{scene_id, object_id, object_name, ann_id, description}``.

A row that cannot become an Utterance (missing target, bad id, empty text) is
reported in :class:`LoadReport.problems` with its file and row number, never
raised; a file that is not CSV/JSON of the right shape raises SceneFormatError.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scene3d.errors import SceneFormatError, SceneValidationError
from scene3d.io.atomic import atomic_write_text
from scene3d.structures import Scene, Utterance, is_view_dependent


@dataclass(frozen=True)
class RowProblem:
    """A row that was not loaded: where and why."""

    file: str
    row: int        # 1-based data row (CSV: excluding the header; JSON: list index + 1)
    reason: str


@dataclass
class LoadReport:
    """Loaded utterances and the rows that were skipped."""

    utterances: list[Utterance] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def extend(self, other: LoadReport) -> None:
        self.utterances.extend(other.utterances)
        self.problems.extend(other.problems)


def _int_list(text: str) -> tuple[int, ...]:
    """``"[3, 4]"`` -> (3, 4); ``""`` -> (); ValueError otherwise."""
    text = (text or "").strip()
    if not text:
        return ()
    value = ast.literal_eval(text)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and v >= 0 for v in value):
        raise ValueError(f"not a list of ids: {text[:40]!r}")
    return tuple(value)


def _referit3d_hard(stimulus_id: str, distractors: tuple[int, ...]) -> bool | None:
    """ReferIt3D's split: hard when the scene has more than 2 objects of the target class.

    The stimulus id is ``<scan>-<class>-<n same-class objects>-<target>-<distractors...>``.
    """
    parts = stimulus_id.split("-")
    if len(parts) >= 4 and parts[2].isdigit():
        return int(parts[2]) > 2
    if distractors:
        return len(distractors) + 1 > 2
    return None


def read_referit3d_csv(path: str | Path, source: str | None = None) -> LoadReport:
    """Read a ReferIt3D CSV (Nr3D or Sr3D).

    Args:
        path: the CSV file.
        source: ``"nr3d"`` / ``"sr3d"``; default: the file's ``dataset`` column,
            else the file name.

    Returns:
        A LoadReport; ``relation`` is Sr3D's ``reference_type`` (None for Nr3D),
        ``hard`` follows the ReferIt3D easy/hard split, ``view_dependent`` its
        word list.

    Raises:
        SceneFormatError: the file is missing, not UTF-8, or lacks the required columns.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "file not found")
    report = LoadReport()
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            need = {"scan_id", "target_id", "utterance"}
            missing = need - set(reader.fieldnames or [])
            if missing:
                raise SceneFormatError(path, f"not a ReferIt3D CSV: missing columns {sorted(missing)}")
            for row_no, row in enumerate(reader, start=1):
                try:
                    report.utterances.append(_referit3d_row(row, row_no, path, source))
                except (ValueError, SyntaxError, SceneValidationError) as exc:
                    report.problems.append(RowProblem(str(path), row_no, str(exc)))
    except UnicodeDecodeError:
        raise SceneFormatError(path, "not UTF-8 text") from None
    except csv.Error as exc:
        raise SceneFormatError(path, f"malformed CSV: {exc}") from None
    return report


def _referit3d_row(row: dict, row_no: int, path: Path, source: str | None) -> Utterance:
    target = (row.get("target_id") or "").strip()
    if not target.isdigit():
        raise ValueError(f"target_id {target!r} is missing or not an id")
    distractors = _int_list(row.get("distractor_ids", ""))
    stimulus = (row.get("stimulus_id") or "").strip()
    text = (row.get("utterance") or "").strip()
    return Utterance(
        scene_id=(row.get("scan_id") or "").strip(),
        target_id=int(target),
        text=text,
        target_label=(row.get("instance_type") or "").strip(),
        anchor_ids=_int_list(row.get("anchor_ids", "")),
        distractor_ids=distractors,
        relation=(row.get("reference_type") or "").strip() or None,
        view_dependent=is_view_dependent(text),
        hard=_referit3d_hard(stimulus, distractors),
        source=source or (row.get("dataset") or "").strip() or path.stem,
        utterance_id=f"{stimulus}#{row_no}" if stimulus else str(row_no),
    )


def read_scanrefer_json(path: str | Path) -> LoadReport:
    """Read a ScanRefer JSON file (a list of annotation objects).

    ``hard`` (ScanRefer's "multiple") is left None: it depends on the scene's
    objects, not on the annotation.

    Raises:
        SceneFormatError: missing file, malformed JSON, or not a list.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "file not found")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SceneFormatError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SceneFormatError(path, f"malformed JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(records, list):
        raise SceneFormatError(path, "ScanRefer JSON must be a list of annotations")
    report = LoadReport()
    for i, rec in enumerate(records, start=1):
        try:
            if not isinstance(rec, dict):
                raise ValueError("annotation is not an object")
            obj = str(rec.get("object_id", "")).strip()
            if not obj.isdigit():
                raise ValueError(f"object_id {obj!r} is missing or not an id")
            text = rec.get("description")
            if not isinstance(text, str):
                raise ValueError("description is missing")
            report.utterances.append(Utterance(
                scene_id=str(rec.get("scene_id", "")),
                target_id=int(obj),
                text=text.strip(),
                target_label=str(rec.get("object_name", "")).replace("_", " "),
                view_dependent=is_view_dependent(text),
                source="scanrefer",
                utterance_id=f"{rec.get('scene_id')}-{obj}-{rec.get('ann_id', i)}",
            ))
        except (ValueError, SceneValidationError) as exc:
            report.problems.append(RowProblem(str(path), i, str(exc)))
    return report


def check_targets(utterances: Iterable[Utterance], scenes: Mapping[str, Scene]) -> list[tuple[Utterance, str]]:
    """Utterances whose scene or target (or an anchor) is missing from ``scenes``, with the reason.

    Args:
        utterances: records to check.
        scenes: scene id -> Scene (e.g. the ground-truth object lists).
    """
    bad = []
    ids_cache: dict[str, set[int]] = {}
    for u in utterances:
        scene = scenes.get(u.scene_id)
        if scene is None:
            bad.append((u, f"scene {u.scene_id} is not loaded"))
            continue
        ids = ids_cache.setdefault(u.scene_id, {o.object_id for o in scene.objects})
        if u.target_id is None:  # a scene caption: the scene is enough
            continue
        if u.target_id not in ids:
            bad.append((u, f"target {u.target_id} is not an object of {u.scene_id}"))
        elif any(a not in ids for a in u.anchor_ids):
            bad.append((u, f"an anchor of {u.anchor_ids} is not an object of {u.scene_id}"))
    return bad


def write_utterances_jsonl(path: str | Path, utterances: Iterable[Utterance]) -> None:
    """Write one JSON record per line, atomically."""
    atomic_write_text(path, "".join(json.dumps(u.to_json()) + "\n" for u in utterances))


def read_utterances_jsonl(path: str | Path) -> list[Utterance]:
    """Read what :func:`write_utterances_jsonl` wrote; SceneFormatError names the line."""
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "file not found")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Utterance.from_json(json.loads(line)))
        except (json.JSONDecodeError, SceneValidationError, TypeError) as exc:
            raise SceneFormatError(path, f"line {lineno}: {exc}") from None
    return out
