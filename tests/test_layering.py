"""Imports point down: a scene3d unit (a subpackage or a top-level module) imports only units of
lower layers. The table is the one of docs/architecture.md ("Which way imports point")."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: unit -> layer; a unit may import units of strictly lower layers only (and itself).
LAYERS = {
    # 0: the package face and the errors every layer raises
    "scene3d": 0, "errors": 0,
    # 1: the data structures and small helpers with no scene3d dependency but those
    "structures": 1, "colors": 1, "parallel": 1, "runtime": 1, "config": 1,
    # 2: pure math: numpy geometry, the sparse-convolution and rendering cores
    "geometry": 2, "sparse": 2, "render": 2,
    # 3: files on disk, neural network modules
    "io": 3, "models": 3,
    # 4: 2D teachers, the training loop
    "teachers": 4, "train": 4,
    # 5: scene producers: synthetic scenes, scene graphs
    "synth": 5, "graph": 5,
    # 6: what is made from graphs or trained on scenes
    "language": 6, "distill": 6,
    # 7: the user-facing engines
    "grounding": 7, "repository": 7, "instances": 7,
    # 9: the commands, one module per stage (scene3d/commands/<stage>.py)
    "commands": 9,
    # 10: the dispatcher (it imports a command's module by name, once its options are checked)
    "cli": 10,
}


def _unit(module: str) -> str | None:
    """The unit of a dotted scene3d module name (None outside scene3d)."""
    parts = module.split(".")
    if parts[0] != "scene3d":
        return None
    return parts[1] if len(parts) > 1 else "scene3d"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in ``source`` (module level or inside functions), with
    relative imports resolved against ``module``; ``from a import b`` gives ``a.b`` too (b may be
    a submodule)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names if a.name != "*"]
    return out


def violations(files: dict[str, str]) -> list[str]:
    """'<file>:<line>: <unit> (layer a) imports <module> (<unit>, layer b)' for every import of a unit
    that is not strictly lower; ``files`` maps repo-relative paths under scene3d/ to source."""
    found = []
    for rel, source in sorted(files.items()):
        path = REPO / rel
        module = _module_name(path)
        src = _unit(module)
        if src not in LAYERS:
            found.append(f"{rel}: unit {src!r} has no layer in LAYERS (add it there and in docs/architecture.md)")
            continue
        seen = set()  # one report per import statement and unit
        for line, name in imported_modules(source, module, path.name == "__init__.py"):
            dst = _unit(name)
            if dst is None or dst == src or dst not in LAYERS or (line, dst) in seen:
                continue  # (``from scene3d import x`` of a unit x is checked as scene3d.x)
            if LAYERS[dst] >= LAYERS[src]:
                seen.add((line, dst))
                found.append(f"{rel}:{line}: {src} (layer {LAYERS[src]}) imports {name} ({dst}, layer {LAYERS[dst]})")
    return found


def _sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in sorted((REPO / "scene3d").rglob("*.py"))}


def test_every_unit_has_a_layer_and_imports_point_down():
    sources = _sources()
    units = {_unit(_module_name(REPO / rel)) for rel in sources}
    assert units == set(LAYERS), f"units without a layer: {units - set(LAYERS)}; stale: {set(LAYERS) - units}"
    assert violations(sources) == []


def test_the_check_catches_an_upward_import():
    bad = {
        "scene3d/io/new_reader.py": "def f():\n    from scene3d.grounding import Grounder\n",  # inside a function
        "scene3d/geometry/new.py": "from ..render import cameras\n",  # relative, same layer
        "scene3d/structures/__init__.py": "from scene3d import io\n",  # through the package face
        "scene3d/graph/ok.py": "from scene3d.io import load_scene\nfrom . import relations\n",
    }
    found = violations(bad)
    assert len(found) == 3, found
    assert found[0].startswith("scene3d/geometry/new.py:1: geometry (layer 2) imports scene3d.render ")
    assert found[1].startswith("scene3d/io/new_reader.py:2: io (layer 3) imports scene3d.grounding")
    assert found[2].startswith("scene3d/structures/__init__.py:1: structures (layer 1) imports scene3d.io")
    assert violations({"scene3d/newpkg/x.py": ""})[0].endswith("has no layer in LAYERS (add it there and in docs/architecture.md)")


def viewer_internal_imports(files: dict[str, str]) -> list[str]:
    """'<file>:<line>: <module>' for every import by the viewer (``viewer/scene3d_viewer/``) of a
    scene3d unit other than structures, io and errors that is not through the package face of
    grounding or repository."""
    bad = []
    for rel, source in sorted(files.items()):
        module = "scene3d_viewer." + Path(rel).stem
        for line, name in imported_modules(source, module, rel.endswith("__init__.py")):
            parts = name.split(".")
            if _unit(name) in (None, "scene3d", "structures", "io", "errors"):
                continue
            inside = len(parts) > 2 and ((REPO / "scene3d" / parts[1] / f"{parts[2]}.py").is_file()
                                         or (REPO / "scene3d" / parts[1] / parts[2]).is_dir())
            if parts[1] not in ("grounding", "repository") or inside:
                bad.append(f"{rel}:{line}: {name}")
    return bad


def _viewer_sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
            for p in sorted((REPO / "viewer" / "scene3d_viewer").rglob("*.py"))}


def test_viewer_uses_public_faces():
    """The viewer (top-level ``viewer/``) reads structures, io and errors, and the engines only
    through their package face (``scene3d.grounding``, ``scene3d.repository``), never their
    modules or model internals; inside scene3d only the ``view`` command imports the viewer."""
    assert viewer_internal_imports(_viewer_sources()) == []
    bad = {"viewer/scene3d_viewer/new.py": "from scene3d.grounding import Grounder\n"
                                           "from scene3d.grounding.trainer import x\n"
                                           "from scene3d.models import GroundingModel\n"}
    assert {line.rsplit(": ", 1)[0] for line in viewer_internal_imports(bad)} == {"viewer/scene3d_viewer/new.py:2",
                                                                                  "viewer/scene3d_viewer/new.py:3"}
    importers = {rel for rel, source in _sources().items()
                 if any(name.split(".")[0] == "scene3d_viewer" for _, name in imported_modules(source, "x", False))}
    assert importers == {"scene3d/commands/viewer.py"}
