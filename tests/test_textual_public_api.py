"""The dashboard uses Textual through its public API only, and what it relies on works with every Textual version
pyproject.toml allows (.ci/run runs the files that drive the app with the oldest one too)."""

from __future__ import annotations

import ast
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult

from sentinel_tui.tui.app import SentinelApp
from sentinel_tui.tui.widgets import FEATURE_COLUMNS, FeatureTable

PACKAGE = Path(__file__).resolve().parents[1] / "sentinel_tui"


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield FeatureTable(id="features")


def cells(name: str, effect: str, style: str = "") -> tuple:
    return (Text(name, style=style), Text("ok", style=style), effect, "▁▂", "0.5", "1.0", "ks", "numeric")


def shown(table: FeatureTable) -> list[tuple[str, str, str]]:
    """(name, name style, effect) of every row, top to bottom, read back through DataTable's public API."""
    rows = [table.get_row_at(i) for i in range(table.row_count)]
    return [(row[0].plain, str(row[0].style), row[2]) for row in rows]


async def test_feature_table_sync_adds_updates_restyles_reorders_and_removes_rows():
    app = TableApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(FeatureTable)
        rows = {n: cells(n, "0.100") for n in ("a", "b", "c")}
        table.sync(rows, ["a", "b", "c"])
        await pilot.pause()
        assert shown(table) == [("a", "", "0.100"), ("b", "", "0.100"), ("c", "", "0.100")]

        # New values; and a name whose text is the same but whose colour changed (rich's Text == ignores the
        # base style, so a comparison of values alone would keep the old colour).
        rows = dict(rows, b=cells("b", "0.777"), c=cells("c", "0.100", style="bold red"))
        table.sync(rows, ["a", "b", "c"])
        await pilot.pause()
        assert shown(table) == [("a", "", "0.100"), ("b", "", "0.777"), ("c", "bold red", "0.100")]
        assert "0.777" in app.export_screenshot()  # drawn, not only stored

        table.sync({"c": rows["c"], "a": rows["a"]}, ["c", "a"])
        await pilot.pause()
        assert shown(table) == [("c", "bold red", "0.100"), ("a", "", "0.100")]
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == ["ok", "ok"]
        assert len(table.get_row_at(0)) == len(FEATURE_COLUMNS)


async def test_every_changed_cell_of_a_long_table_is_shown():
    app = TableApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(FeatureTable)
        names = [f"f{i:03d}" for i in range(300)]
        table.sync({n: cells(n, "0.100") for n in names}, names)
        await pilot.pause()
        table.sync({n: cells(n, f"{i / 1000:.3f}", style="yellow") for i, n in enumerate(names)}, names)
        await pilot.pause()
        assert shown(table) == [(n, "yellow", f"{i / 1000:.3f}") for i, n in enumerate(names)]
        assert "0.005" in app.export_screenshot()


async def test_the_theme_asked_for_is_the_one_drawn(tmp_path):
    """``App.theme`` arrived in Textual 0.86; on older versions setting it does nothing, silently."""
    brightness = {}
    for theme in ("textual-light", "textual-dark"):
        app = SentinelApp(directory=str(tmp_path), baseline="b", theme=theme)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            brightness[theme] = app.screen.styles.background.brightness
    assert brightness["textual-light"] > 0.5 > brightness["textual-dark"]


def _names_defined_in(root: Path) -> set[str]:
    """Functions, classes and attributes the package itself defines or assigns (``x._n = ...``)."""
    names: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            else:
                continue
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute):
                        names.add(part.attr)
    return names


def _private_names_used(path: Path) -> list[tuple[int, str]]:
    """``._name`` attributes, and ``"_name"`` given to getattr/hasattr/setattr/delattr."""
    used = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            used.append((node.lineno, node.attr))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            used.append((node.lineno, node.args[1].value))
    return [(line, n) for line, n in used if n.startswith("_") and not n.startswith("__")]


def test_the_dashboard_touches_no_private_name_it_does_not_define_itself():
    """A ``._name`` read or written in tui/ is one of Sentinel's own (assigned or defined somewhere in the
    package), never one of Textual's or Rich's internals, which change between releases without notice."""
    ours = _names_defined_in(PACKAGE)
    foreign = [f"{path.relative_to(PACKAGE)}:{line} {name}" for path in sorted((PACKAGE / "tui").rglob("*.py"))
               for line, name in _private_names_used(path) if name not in ours]
    assert not foreign, foreign
