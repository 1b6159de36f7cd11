"""The store's one writer and its readers: a read from another thread sees the last committed state, never a
transaction in progress on the writer (a batch being committed in a worker thread)."""

from __future__ import annotations

import threading

from sentinel_tui.engine.alertbook import Judgement
from sentinel_tui.engine.store import Store
from sentinel_tui.model import AlertKind, AlertRecord, Severity


def test_a_read_never_sees_a_transaction_in_progress(tmp_path):
    store = Store(tmp_path)
    inside, release = threading.Event(), threading.Event()
    record = AlertRecord(AlertKind.DRIFT, Severity.CRITICAL, "dataset", "drift")

    def commit_slowly() -> None:
        with store.transaction() as db:
            Store.apply_judgement(db, Judgement(opened=[(("drift", "dataset"), record, 1)]), None, 1.0)
            inside.set()
            release.wait(10)

    writer = threading.Thread(target=commit_slowly)
    writer.start()
    assert inside.wait(10)
    seen_during = [a.subject for a in store.open_alerts()]
    count_during = store.batch_count()
    release.set()
    writer.join()
    assert seen_during == [] and count_during == 0  # the open alert was not committed yet
    assert [a.subject for a in store.open_alerts()] == ["dataset"]  # and is seen once it is
    store.close()


def test_readers_are_per_thread_and_closed_with_the_store(tmp_path):
    store = Store(tmp_path)
    mine = store.reader()
    other: list = []
    t = threading.Thread(target=lambda: other.append(store.reader()))
    t.start()
    t.join()
    assert store.reader() is mine and other[0] is not mine
    store.close()
    for conn in (mine, other[0]):
        try:
            conn.execute("SELECT 1")
        except Exception as exc:  # closed
            assert "closed" in str(exc)
        else:
            raise AssertionError("a reader outlived its store")
