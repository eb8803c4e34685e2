"""ScanNet label maps: raw annotation labels -> normalised class, NYU40 and ScanNet-20."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from scene3d.errors import SceneFormatError

#: The ScanNet-20 semantic benchmark: NYU40 id -> class name.
SCANNET20_BY_NYU40 = {
    1: "wall", 2: "floor", 3: "cabinet", 4: "bed", 5: "chair", 6: "sofa", 7: "table",
    8: "door", 9: "window", 10: "bookshelf", 11: "picture", 12: "counter", 14: "desk",
    16: "curtain", 24: "refrigerator", 28: "shower curtain", 33: "toilet", 34: "sink",
    36: "bathtub", 39: "otherfurniture",
}


@dataclass(frozen=True)
class LabelInfo:
    """What a raw ScanNet label maps to."""

    label: str           # normalised class (the map's cleaned category)
    nyu40_id: int | None
    nyu40_label: str | None

    @property
    def scannet20_label(self) -> str | None:
        return SCANNET20_BY_NYU40.get(self.nyu40_id) if self.nyu40_id else None


def normalise_label(raw: str) -> str:
    """Lower case, single spaces, underscores as spaces: ``'Kitchen_Cabinet '`` -> ``'kitchen cabinet'``."""
    return " ".join(raw.replace("_", " ").lower().split())


class LabelMap:
    """A ``scannetv2-labels.combined.tsv`` (v2: ``raw_category`` + ``category``) or the
    v1 ``scannet-labels.combined.tsv`` (``category`` is the raw label)."""

    def __init__(self, table: dict[str, LabelInfo], path: Path):
        self.table, self.path = table, path

    @classmethod
    def read(cls, path: str | Path) -> LabelMap:
        """Parse the TSV; SceneFormatError when it lacks the needed columns."""
        path = Path(path)
        if not path.is_file():
            raise SceneFormatError(path, "label map not found")
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f, delimiter="\t"))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SceneFormatError(path, f"unreadable TSV ({exc})") from None
        if not rows:
            raise SceneFormatError(path, "label map has no rows")
        cols = set(rows[0])
        raw_col = "raw_category" if "raw_category" in cols else "category"
        if raw_col not in cols or "nyu40id" not in cols:
            raise SceneFormatError(path, f"label map needs 'category' and 'nyu40id' columns, has {sorted(cols)}")
        table: dict[str, LabelInfo] = {}
        for i, row in enumerate(rows, start=2):
            raw = (row.get(raw_col) or "").strip()
            if not raw:
                continue
            nyu = (row.get("nyu40id") or "").strip()
            if nyu and not nyu.isdigit():
                raise SceneFormatError(path, f"line {i}: nyu40id {nyu!r} is not an integer")
            table[normalise_label(raw)] = LabelInfo(
                label=normalise_label(row.get("category") or raw),
                nyu40_id=int(nyu) if nyu and int(nyu) > 0 else None,
                nyu40_label=(row.get("nyu40class") or "").strip() or None,
            )
        return cls(table, path)

    def lookup(self, raw: str) -> LabelInfo | None:
        """The mapping of a raw label, or None when the map does not know it."""
        return self.table.get(normalise_label(raw))
