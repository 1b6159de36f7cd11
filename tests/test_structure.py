"""The layering of ../shared/DESIGN.md, checked on the source: every module belongs to a layer and imports only
from its own layer or those above it (function-level imports included), third-party packages stay in the
layers that may use them, no two modules share a name, SQL lives in the store, and modules stay small."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sentinel_tui"

# Layers, top (imported by everything) to bottom. A module's layer is the first prefix that matches it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("model", "events", "config", "config_file", "textsafe", "__init__")),
    ("stats", ("stats.", "frames.imagestats")),
    # performance.metrics is pure functions, but counts labels with pandas' hash table, so it sits with data
    ("data", ("io.", "baseline.", "performance.metrics", "performance.reference", "frames.frame_reference",
              "frames.readers")),
    ("checks", ("checks.", "performance.assess", "performance.partial", "performance.segments", "frames.embedder",
                "frames.embedding_drift")),
    ("engine", ("engine.", "performance.window")),
    ("integrations", ("integrations.",)),
    # the synthetic stream writers only need numpy/pandas/PIL; `sentinel simulate` and the screenshot tool use them
    ("generators", ("simulate.tabular", "simulate.frame_batches")),
    ("interfaces", ("report.", "tui.", "cli.", "__main__")),
    ("tools", ("simulate.demo",)),
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}

# Third-party packages and the first layer allowed to import them (the standard library is free, except
# sqlite3, which only the engine's store and the modules that catch its errors may use).
THIRD_PARTY = {
    "numpy": "stats", "scipy": "stats",
    "pandas": "data", "pyarrow": "data", "PIL": "data",
    "tensorflow": "checks",
    "sqlite3": "engine", "watchdog": "engine",
    "prometheus_client": "integrations",
    "datasketches": "stats", "fsspec": "data", "s3fs": "data", "dask": "engine", "distributed": "engine",
    "rich": "interfaces", "textual": "interfaces", "textual_serve": "interfaces",
}
# Wider homes than a layer, each with its reason.
ALSO_IN = {
    ("textsafe", "rich"): "escaping untrusted text for Rich markup is textsafe's job (imported lazily)",
}
# Narrower homes than a layer: these packages are imported by these modules only.
ONLY_IN = {
    "tensorflow": {"frames.embedder"},
    "watchdog": {"engine.watcher", "engine.source"},
    "textual": {m for m in ()},  # filled below: everything under tui/ and cli/serve
    "prometheus_client": {"integrations.prometheus"},
    # the optional extras stay behind one module each, imported lazily
    "datasketches": {"stats.mergeable"},
    "fsspec": {"io.locations"},
    "distributed": {"engine.dask_engine"},
    "dask": {"engine.dask_engine"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        found[".".join(rel.parts)] = path
    return found


def layer_of(module: str) -> str:
    if module.endswith(".__init__"):
        return "core"  # package docstrings only: test_package_files_hold_no_code keeps them empty
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p) if p.endswith(".") else module == p for p in prefixes):
            return name
    raise AssertionError(f"sentinel_tui.{module} belongs to no layer: add it to LAYERS in {__file__}")


def imports(path: Path) -> list[tuple[str, int]]:
    """Every imported module name (absolute), with its line."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import (the package uses absolute ones)"
            if node.module == "__future__":
                continue
            found.append((node.module or "", node.lineno))
            # `from sentinel_tui.pkg import module` imports a module too
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate.startswith("sentinel_tui.") and candidate.removeprefix("sentinel_tui.") in modules():
                    found.append((candidate, node.lineno))
    return found


def internal_target(name: str, known: dict[str, Path]) -> str | None:
    if name == "sentinel_tui":
        return "__init__"
    if not name.startswith("sentinel_tui."):
        return None
    rest = name.removeprefix("sentinel_tui.")
    while rest and rest not in known and f"{rest}.__init__" not in known:
        rest = rest.rpartition(".")[0]
    if rest in known:
        return rest
    return f"{rest}.__init__" if rest else "__init__"


def test_every_module_imports_only_from_its_layer_or_above():
    known = modules()
    problems = []
    for module, path in sorted(known.items()):
        mine = RANK[layer_of(module)]
        for name, line in imports(path):
            target = internal_target(name, known)
            if target is None or target.endswith("__init__"):
                continue
            theirs = RANK[layer_of(target)]
            if theirs > mine:
                problems.append(f"{module} ({layer_of(module)}) line {line} imports {target} ({layer_of(target)})")
    assert not problems, "imports against the layering of DESIGN.md:\n" + "\n".join(problems)


def test_package_files_hold_no_code():
    for module, path in modules().items():
        if module.endswith(".__init__"):
            body = ast.parse(path.read_text()).body
            assert all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body), (
                f"{path}: a package's __init__ holds its docstring only, so a layer never hides in it")


def test_third_party_packages_stay_in_their_layers():
    known = modules()
    only = dict(ONLY_IN)
    only["textual"] = {m for m in known if m.startswith("tui.") or m == "cli.serve"}
    only["textual_serve"] = {"cli.serve"}
    problems = []
    for module, path in sorted(known.items()):
        mine = RANK[layer_of(module)]
        for name, line in imports(path):
            top = name.split(".")[0]
            if top in THIRD_PARTY and RANK[THIRD_PARTY[top]] > mine and (module, top) not in ALSO_IN:
                problems.append(f"{module} ({layer_of(module)}) line {line} imports {top}")
            if top in only and module not in only[top]:
                problems.append(f"{module} line {line} imports {top} (only {sorted(only[top])} may)")
    assert not problems, "\n".join(problems)


def test_no_two_modules_share_a_name():
    names: dict[str, list[str]] = {}
    for module in modules():
        leaf = module.split(".")[-1]
        if leaf not in ("__init__", "__main__"):
            names.setdefault(leaf, []).append(module)
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    clashes = {leaf: mods for leaf, mods in names.items() if len(mods) > 1 or leaf in packages}
    assert not clashes, f"modules that share a name (with each other or a package): {clashes}"


SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE)\b[^\n\"']*\b(FROM|INTO|SET|TABLE|INDEX)\b")


def test_the_store_owns_every_sql_statement():
    store_modules = {"engine.store", "engine.store_schema", "engine.store_alerts", "engine.store_labels"}
    problems = []
    for module, path in sorted(modules().items()):
        if module in store_modules:
            continue
        text = path.read_text()
        for match in SQL.finditer(text):
            problems.append(f"{module} line {text.count(chr(10), 0, match.start()) + 1}: {match.group(0)[:60]}")
        if ".execute(" in text or ".executemany(" in text:
            problems.append(f"{module} runs SQL (.execute)")
    assert not problems, "\n".join(problems)


def test_modules_stay_small():
    limit = 400
    big = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > limit}
    assert not big, f"modules over {limit} lines (split them by what they hold): {big}"
