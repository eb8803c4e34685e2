"""PLY reading and writing with errors that name the file.

The header is checked by hand before plyfile parses the body, so that a
truncated or lying file is reported as such (and a header that claims 10^12
vertices does not make numpy allocate them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plyfile

from scene3d.errors import SceneFormatError
from scene3d.io.atomic import atomic_path

_SCALAR_BYTES = {
    "char": 1, "int8": 1, "uchar": 1, "uint8": 1,
    "short": 2, "int16": 2, "ushort": 2, "uint16": 2,
    "int": 4, "int32": 4, "uint": 4, "uint32": 4,
    "float": 4, "float32": 4, "double": 8, "float64": 8,
}
_MAX_HEADER = 1 << 16


@dataclass
class _HeaderElement:
    name: str
    count: int
    scalar_bytes: int  # bytes per row if every property is a scalar, else -1


def _parse_header(path: Path, raw: bytes) -> tuple[str, int, list[_HeaderElement]]:
    """Return (format, header length in bytes, elements) or raise SceneFormatError."""
    if not raw.startswith(b"ply"):
        raise SceneFormatError(path, "not a PLY file (it does not start with 'ply')")
    end = raw.find(b"end_header")
    if end < 0:
        raise SceneFormatError(path, "PLY header has no 'end_header' line (truncated or not PLY)")
    newline = raw.find(b"\n", end)
    if newline < 0:
        raise SceneFormatError(path, "PLY header ends without a newline after 'end_header'")
    try:
        lines = raw[:end].decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise SceneFormatError(path, "PLY header is not ASCII") from None
    fmt = None
    elements: list[_HeaderElement] = []
    for lineno, line in enumerate(lines[1:], start=2):
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) != 3 or words[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise SceneFormatError(path, f"PLY header line {lineno}: bad format line {line!r}")
            fmt = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise SceneFormatError(path, f"PLY header line {lineno}: bad element line {line!r}")
            elements.append(_HeaderElement(words[1], int(words[2]), 0))
        elif words[0] == "property":
            if not elements:
                raise SceneFormatError(path, f"PLY header line {lineno}: property before any element")
            el = elements[-1]
            if len(words) == 3 and words[1] in _SCALAR_BYTES:
                if el.scalar_bytes >= 0:
                    el.scalar_bytes += _SCALAR_BYTES[words[1]]
            elif (
                len(words) == 5 and words[1] == "list"
                and words[2] in _SCALAR_BYTES and words[3] in _SCALAR_BYTES
            ):
                el.scalar_bytes = -1
            else:
                raise SceneFormatError(path, f"PLY header line {lineno}: bad property line {line!r}")
        else:
            raise SceneFormatError(path, f"PLY header line {lineno}: unknown keyword {words[0]!r}")
    if fmt is None:
        raise SceneFormatError(path, "PLY header has no format line")
    return fmt, newline + 1, elements


def _check_binary_size(path: Path, header_len: int, elements: list[_HeaderElement]) -> None:
    """For binary files, the fixed-size leading elements must fit in the file."""
    size = path.stat().st_size
    offset = header_len
    for el in elements:
        if el.scalar_bytes < 0:
            # variable-length rows: at least one count byte per row must remain
            if offset + el.count > size:
                raise SceneFormatError(
                    path, f"PLY is truncated: element '{el.name}' needs at least {el.count} more bytes"
                )
            return
        offset += el.count * el.scalar_bytes
        if offset > size:
            raise SceneFormatError(
                path,
                f"PLY is truncated: element '{el.name}' ({el.count} rows of {el.scalar_bytes} bytes) "
                f"needs {offset} bytes, the file has {size}",
            )


def read_ply(path: str | Path) -> dict[str, np.ndarray]:
    """Read a PLY file into one structured array per element.

    Args:
        path: an ASCII or binary PLY file.

    Returns:
        ``{element name: structured ndarray of its rows}``; list properties
        (faces) are object arrays of int arrays, as plyfile gives them.

    Raises:
        SceneFormatError: the file is missing, not PLY, truncated, or its body
            does not match its header.
    """
    path = Path(path)
    if not path.is_file():
        raise SceneFormatError(path, "file not found")
    with open(path, "rb") as f:
        head = f.read(_MAX_HEADER)
    fmt, header_len, elements = _parse_header(path, head)
    if fmt != "ascii":
        _check_binary_size(path, header_len, elements)
    try:
        data = plyfile.PlyData.read(str(path))
    except Exception as exc:  # plyfile raises many kinds on corrupt bodies
        raise SceneFormatError(path, f"PLY body does not match its header ({type(exc).__name__}: {exc})") from None
    return {el.name: el.data for el in data.elements}


def require_fields(path: Path, element: np.ndarray, name: str, fields: tuple[str, ...]) -> None:
    """Raise SceneFormatError when the PLY ``element`` lacks any of ``fields``."""
    have = element.dtype.names or ()
    missing = [f for f in fields if f not in have]
    if missing:
        raise SceneFormatError(path, f"PLY element '{name}' misses properties {missing} (has {list(have)})")


def write_ply(
    path: str | Path,
    vertex: dict[str, np.ndarray],
    faces: np.ndarray | None = None,
) -> None:
    """Write a binary little-endian PLY atomically.

    Args:
        path: destination.
        vertex: ordered ``{property name: (V,) array}``; dtypes are kept exactly.
        faces: optional (F, 3) int32 vertex indices.
    """
    if not vertex:
        raise ValueError("write_ply needs at least one vertex property")
    n = len(next(iter(vertex.values())))
    rows = np.empty(n, dtype=[(k, v.dtype.str) for k, v in vertex.items()])
    for k, v in vertex.items():
        if v.shape != (n,):
            raise ValueError(f"vertex property {k} has shape {v.shape}, expected ({n},)")
        rows[k] = v
    elements = [plyfile.PlyElement.describe(rows, "vertex")]
    if faces is not None:
        face_rows = np.empty(len(faces), dtype=[("vertex_indices", "i4", (3,))])
        face_rows["vertex_indices"] = faces
        elements.append(plyfile.PlyElement.describe(face_rows, "face", len_types={"vertex_indices": "u1"}))
    with atomic_path(path) as tmp:
        plyfile.PlyData(elements, text=False, byte_order="<").write(str(tmp))
