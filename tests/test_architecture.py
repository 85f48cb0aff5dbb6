"""The rooms of the house import downwards only (docs/architecture.md): every import of every
module, function-level ones included, is read from the source (ast), and one that reaches a
room above (or beside) its own fails here, naming the file and line."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# folder -> package (setup.cfg's package_dir)
FOLDERS = {"asag": "asag", "annotate": "asag.annotate", "build_dataset": "asag.build_dataset",
           "train": "asag.train", "serve": "asag.serve"}
# a room may import only rooms of a lower level (and itself)
LEVELS = {"core": 0, "build_dataset": 1, "train": 1, "annotate": 2, "gradebook": 2, "serve": 3}
# modules of the asag/ folder that form a room of their own above core
OWN_ROOM = {"asag.gradebook": "gradebook", "asag.gradebook_cli": "gradebook"}


def room_of(module: str) -> str | None:
    """The room of a dotted module name; None outside asag."""
    parts = module.split(".")
    if parts[0] != "asag":
        return None
    if len(parts) > 1 and parts[1] in LEVELS:
        return parts[1]
    return next((room for name, room in OWN_ROOM.items()
                 if module == name or module.startswith(name + ".")), "core")


def modules() -> list[tuple[str, Path]]:
    out = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out.append((".".join([package, *parts]), path))
    return out


def imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, at any depth; `from asag
    import hints` counts as importing asag.hints."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def room_edges() -> dict[tuple[str, str], list[str]]:
    """(importing room, imported room) -> 'file:line module' of each such import."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in modules():
        mine = room_of(module)
        for line, target in imports(module, path):
            theirs = room_of(target)
            if theirs is not None and theirs != mine:
                where = f"{path.relative_to(ROOT)}:{line} imports {target}"
                edges.setdefault((mine, theirs), []).append(where)
    return edges


def test_every_module_of_the_house_is_in_a_room():
    found = {room_of(module) for module, _ in modules()}
    assert found == set(LEVELS), found


def test_no_room_imports_a_room_above_or_beside_it():
    below = {mine: ", ".join(r for r in LEVELS if LEVELS[r] < LEVELS[mine]) or "nothing"
             for mine in LEVELS}
    wrong = [f"{where} (the {mine} room may import only {below[mine]})"
             for (mine, theirs), places in sorted(room_edges().items())
             if LEVELS[theirs] >= LEVELS[mine] for where in places]
    assert not wrong, "\n".join(wrong)


def test_the_room_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for mine, theirs in room_edges():
        graph.setdefault(mine, set()).add(theirs)
    done: set[str] = set()

    def visit(room: str, path: list[str]) -> None:
        assert room not in path, "import cycle: " + " -> ".join([*path, room])
        if room in done:
            return
        for nxt in sorted(graph.get(room, ())):
            visit(nxt, [*path, room])
        done.add(room)

    for room in sorted(graph):
        visit(room, [])


def test_the_check_sees_function_level_and_from_package_imports(tmp_path):
    """The parser itself: an import inside a function and `from asag import train` both
    count (a check that missed them would pass on any house)."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from asag import train\n    import asag.serve.app\n"
                      "from . import screen\n", encoding="utf-8")
    found = imports("asag.annotate.mod", source)
    assert sorted(found) == [(2, "asag.train"), (3, "asag.serve.app"),
                             (4, "asag.annotate.screen")]
    assert [room_of(m) for _, m in sorted(found)] == ["train", "serve", "annotate"]
