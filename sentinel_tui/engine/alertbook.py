"""The alert book: which alerts one observation opens, updates or resolves. Pure: no SQL, no clock, no I/O.

An alert is an incident with the identity (kind, subject), e.g. (drift, income). One observation (a batch, a
label file) *evaluates* a set of keys, given as a predicate: only those keys may open, update or resolve, and
only they count towards a streak. A frame batch says nothing about a CSV feature, a batch without new labels
says nothing about model quality, and a healthy batch says nothing about another file that could not be read.

- A key opens after K consecutive failing observations (K per severity); while open it is updated.
- An open key resolves after ``resolve_after`` consecutive clean observations of that key.
- A file that could not be read (a *file key*: ``pipeline`` / its name) is judged only when the same path is
  read again: one successful read resolves it. The engine also resolves it when the file is gone, and an
  acknowledgement closes it (nothing else ever would).

The store applies a ``Judgement`` inside the batch's transaction (``Store.apply_judgement``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sentinel_tui.config import AlertSettings
from sentinel_tui.events import Alert
from sentinel_tui.model import AlertKind, AlertRecord, Severity

Key = tuple[str, str]
Streak = tuple[int, int]  # (consecutive failing, consecutive clean) observations

FRAMES_SUBJECT = "(frames)"  # pipeline and data-quality alerts about frame batches as a whole
TABLE_SUBJECT = "(table)"
_MONITOR_PREFIX = "(monitor "  # the monitor itself: "(monitor store)", "(monitor watcher)", ...
_ACTION_PREFIX = "(action "


@dataclass
class Judgement:
    """What one observation changes. ``streaks`` holds the new streak of every evaluated key that still has
    one; ``cleared`` the evaluated keys whose streak ends (resolved, or clean with nothing open)."""

    opened: list[tuple[Key, AlertRecord, int]] = field(default_factory=list)  # key, record, failing count
    updated: list[tuple[Alert, AlertRecord]] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    streaks: dict[Key, Streak] = field(default_factory=dict)
    cleared: list[Key] = field(default_factory=list)


def _threshold(severity: Severity, s: AlertSettings) -> int:
    return max(1, s.open_after_critical if severity == Severity.CRITICAL else s.open_after_warning)


def judge(open_alerts: dict[Key, Alert], streaks: dict[Key, Streak], evaluated: Callable[[Key], bool],
          records: list[AlertRecord], settings: AlertSettings) -> Judgement:
    """One observation against the book. Records whose key is not evaluated are ignored: the caller's scope
    is the only authority on what this observation speaks for."""
    failing: dict[Key, AlertRecord] = {}
    for r in records:
        key = (r.kind.value, r.subject)
        if evaluated(key) and (key not in failing or r.severity > failing[key].severity):
            failing[key] = r
    out = Judgement()
    for key, rec in failing.items():
        f = streaks.get(key, (0, 0))[0] + 1
        out.streaks[key] = (f, 0)
        alert = open_alerts.get(key)
        if alert is not None:
            out.updated.append((alert, rec))
        elif f >= (1 if is_file_key(key) else _threshold(rec.severity, settings)):
            # A file's content is read once: its incident opens on the first observation or never.
            out.opened.append((key, rec, f))
    known = {k for k in (*streaks, *open_alerts) if evaluated(k)}
    for key in known - set(failing):
        alert = open_alerts.get(key)
        c = streaks.get(key, (0, 0))[1] + 1
        needed = 1 if is_file_key(key) else settings.resolve_after
        if alert is None:
            out.cleared.append(key)
        elif c >= needed:
            out.cleared.append(key)
            out.resolved.append(alert)
        else:
            out.streaks[key] = (0, c)
    return out


# keys -------------------------------------------------------------------------------------------------------
def action_subject(name: str) -> str:
    """The subject of the pipeline alert raised while alert action ``name`` fails."""
    return f"{_ACTION_PREFIX}{name})"


def monitor_subject(component: str) -> str:
    """The subject of the critical alert raised while a part of the monitor (store, watcher, ...) fails."""
    return f"{_MONITOR_PREFIX}{component})"


def is_monitor_key(key: Key) -> bool:
    """Alerts about the monitor itself (a failing action, the store, the watcher): no batch speaks for them."""
    return key[0] == AlertKind.PIPELINE.value and key[1].startswith((_ACTION_PREFIX, _MONITOR_PREFIX))


def is_frames_key(key: Key) -> bool:
    return key[0] == AlertKind.EMBEDDING.value or key[1] == FRAMES_SUBJECT


def is_file_key(key: Key) -> bool:
    """A batch or label file that could not be read: ``pipeline`` / the file's name (any name, "(2024).csv"
    included), as opposed to the two stream subjects and the monitor's own subjects."""
    return key[0] == AlertKind.PIPELINE.value and key[1] not in (FRAMES_SUBJECT, TABLE_SUBJECT) \
        and not is_monitor_key(key)


def scope(kind: str, file_subject: str | None, new_labels: bool, evidence: bool = True,
          own: frozenset[Key] = frozenset()) -> Callable[[Key], bool]:
    """The keys one observation evaluates. ``kind``: table | frames | labels; ``file_subject``: the name of the
    file observed (its own unreadable-file alert); ``new_labels``: labelled rows were added, so the rolling
    performance window has new evidence; ``evidence`` False: nothing was checked (the file could not be read,
    was refused or ignored, the frame stream is unavailable, too few frames), so it speaks only for its own
    file and for the keys of its own records (``own``: "(frames) unavailable" must still open)."""

    def evaluated(key: Key) -> bool:
        if is_monitor_key(key):
            return False
        if key in own:
            return True
        if is_file_key(key):
            return key[1] == file_subject
        if key[0] == AlertKind.PERFORMANCE.value:
            return new_labels
        if kind == "labels" or not evidence:
            return False
        return is_frames_key(key) if kind == "frames" else not is_frames_key(key)

    return evaluated
