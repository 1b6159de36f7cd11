"""Fitting to the terminal's width by priority: which fields of a line, and which table columns, are shown.

Nothing is cut by accident: the least important fields or columns go first, whole; what remains is drawn
complete, and a flexible column (a message) takes the rest of the width, ending with an ellipsis where the row's
detail screen shows it whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

CELL_PADDING = 2  # a DataTable cell's padding, one column each side


def fit_fields(fields: list[tuple[int, Text, str]], width: int) -> Text:
    """The fields (priority, text, what joins it to the field before) that fit in ``width``, in their given
    order; priority 0 is the most important. The least important go first, whole; the most important field left
    is cut with an ellipsis only if it alone does not fit."""
    kept = list(fields)

    def joined(items: list[tuple[int, Text, str]]) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        for i, (_, text, separator) in enumerate(items):
            if i:
                out.append(separator, style="dim")
            out.append_text(text)
        return out

    line = joined(kept)
    while line.cell_len > width and len(kept) > 1:
        worst = max(range(len(kept)), key=lambda i: (kept[i][0], i))
        del kept[worst]
        line = joined(kept)
    if line.cell_len > width:
        line.truncate(max(0, width), overflow="ellipsis")
    return line


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    width: int  # the content width; for a content-sized column the most it takes (``fixed`` False)
    priority: int = 0  # 0: always shown; higher numbers go first when the width is short
    fixed: bool = True  # False: as wide as its widest cell (at least the label), up to ``width``
    flex: int = 0  # > 0: takes the width left, at least this much (one flexible column per table)


def fit_columns(specs: tuple[ColumnSpec, ...], available: int, content: dict[str, int] | None = None
                ) -> list[tuple[ColumnSpec, int]]:
    """The columns shown in ``available`` cells and the width of each, in the given order: those of priority 0,
    then the others most important first, each if it fits whole (a flexible column counts at its minimum); the
    flexible column then takes what is left."""
    content = content or {}

    def width_of(spec: ColumnSpec) -> int:
        if spec.flex:
            return spec.flex
        if spec.fixed:
            return spec.width
        return max(len(spec.label), min(spec.width, content.get(spec.key, 0)))

    shown = [s for s in specs if s.priority == 0]
    used = sum(width_of(s) + CELL_PADDING for s in shown)
    for spec in sorted((s for s in specs if s.priority > 0), key=lambda s: s.priority):
        if used + width_of(spec) + CELL_PADDING <= available:  # one that does not fit leaves room for a smaller
            shown.append(spec)
            used += width_of(spec) + CELL_PADDING
    shown.sort(key=specs.index)
    widths = [(s, width_of(s)) for s in shown]
    spare = available - sum(w + CELL_PADDING for _, w in widths)
    return [(s, w + max(0, spare) if s.flex else w) for s, w in widths]
