"""Performance metrics against values worked out by hand (and textbook examples)."""

from __future__ import annotations

import numpy as np
import pytest

import sentinel_tui.performance.metrics as m


def test_multiclass_confusion_and_averages():
    res = m.classification_metrics(["a", "a", "b", "b", "b", "c"], ["a", "b", "b", "b", "c", "c"])
    assert res.labels == ["a", "b", "c"]
    assert res.confusion == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    assert res.accuracy == pytest.approx(4 / 6)
    assert res.per_class_recall == pytest.approx({"a": 0.5, "b": 2 / 3, "c": 1.0})
    assert res.macro_precision == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert res.macro_recall == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert res.macro_f1 == pytest.approx(2 / 3)
    assert res.precision is None and res.roc_auc is None  # not binary


@pytest.mark.filterwarnings("error")
def test_a_batch_whose_true_class_was_never_predicted_has_no_precision_and_no_warning():
    # every truth is "a", every prediction "b": precision of "a" is undefined; np.nanmean warned on stderr
    res = m.from_confusion(np.array([[0, 5], [0, 0]]), ["a", "b"], None)
    assert np.isnan(res.macro_precision) and res.macro_recall == 0.0 and res.accuracy == 0.0


def test_binary_metrics_auc_and_log_loss():
    res = m.classification_metrics(["0", "0", "1", "1", "1", "0"], ["0", "1", "1", "0", "1", "0"], positive="1",
                                   score=np.array([0.1, 0.6, 0.7, 0.4, 0.9, 0.2]))
    assert (res.precision, res.recall, res.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert res.roc_auc == pytest.approx(8 / 9)  # 8 of the 9 positive-negative pairs are ordered right
    assert m.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert m.roc_auc(np.array([0, 1, 0, 1]), np.full(4, 0.5)) == pytest.approx(0.5)
    assert m.log_loss(np.array([1, 0]), np.array([0.9, 0.2])) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2)


def test_regression_metrics():
    res = m.regression_metrics(np.array([3, -0.5, 2, 7]), np.array([2.5, 0.0, 2, 8]))
    assert res.mae == pytest.approx(0.5)
    assert res.rmse == pytest.approx(np.sqrt(0.375))
    assert res.r2 == pytest.approx(0.9486081)
    assert res.mape == pytest.approx((0.5 / 3 + 1 + 0 + 1 / 7) / 4)
    zero = m.regression_metrics(np.array([0.0, 2.0]), np.array([1.0, 2.0]))
    assert zero.mape == 0.0 and zero.mape_rows_excluded == 1


def test_wilson_interval():
    lo, hi = m.wilson_interval(8, 10)
    assert (lo, hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert m.wilson_interval(0, 0) == (0.0, 1.0)


def test_page_hinkley_finds_the_start_and_stays_quiet_on_healthy_streams():
    rng = np.random.default_rng(0)
    hits = []
    for rep in range(20):
        healthy = (rng.random(3000) < 0.1).astype(float)
        assert not m.page_hinkley(healthy).detected, rep
        stream = np.concatenate([(rng.random(2000) < 0.1), (rng.random(1500) < 0.4)]).astype(float)
        cp = m.page_hinkley(stream)
        assert cp.detected and cp.alarm_index > 2000
        hits.append(cp.start_index)
    assert abs(np.median(hits) - 2000) < 100


def test_multiclass_probabilities():
    y = np.array(["a", "b", "c", "a", "b", "c"], dtype=object)
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6],
                      [0.3, 0.4, 0.3], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    res = m.classification_metrics(y, np.array(["a", "b", "c", "b", "a", "c"], dtype=object), score=proba)
    expected_ll = -np.mean(np.log([0.7, 0.8, 0.6, 0.3, 0.4, 0.8]))
    assert res.log_loss == pytest.approx(expected_ll)
    aucs = [m.roc_auc(y == lab, proba[:, i]) for i, lab in enumerate(["a", "b", "c"])]
    assert res.roc_auc == pytest.approx(np.mean(aucs))


@pytest.mark.parametrize("classes", [2, 4, 9])
def test_confusion_matrix_counts_every_pair_and_leaves_out_unknown_values(classes):
    """Both ways of finding a value's class (a comparison per class, a lookup per row) count the same pairs;
    missing values and values outside the labels are left out."""
    rng = np.random.default_rng(classes)
    labels = [f"c{k}" for k in range(classes)]
    pool = np.array([*labels, "other", None], dtype=object)
    y_true, y_pred = pool[rng.integers(0, classes + 2, 5_000)], pool[rng.integers(0, classes + 2, 5_000)]
    expected = np.zeros((classes, classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in labels and p in labels:
            expected[labels.index(t), labels.index(p)] += 1
    np.testing.assert_array_equal(m.confusion_matrix(y_true, y_pred, labels), expected)
