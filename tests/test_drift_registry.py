"""The registry of drift tests: selection by registry order, thresholds from the entry's settings, a new
statistic as one function plus one entry, and the README's table of drift tests kept equal to the registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest

import sentinel_tui.checks.drift_tests as registry
from sentinel_tui.baseline.profile import ColumnProfile
from sentinel_tui.checks.drift_tests import REGISTRY, DriftTest, Measured, drift_test_table, select
from sentinel_tui.config import DriftSettings
from sentinel_tui.engine.pipeline import analyse_table

from .conftest import credit_settings
from .helpers import credit_batch

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_drift_table() -> str:
    """The README's table of drift tests: the block of table lines that starts with its header row."""
    lines = README.read_text().splitlines(keepends=True)
    header = drift_test_table().splitlines(keepends=True)[0]
    assert lines.count(header) == 1, "the README has no table of drift tests with the rendered header (or two)"
    start = lines.index(header)
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "".join(lines[start:end])


def test_readme_table_of_drift_tests_is_the_rendered_registry():
    assert readme_drift_table() == drift_test_table(), (
        "README.md's table of drift tests differs from the registry: paste drift_test_table()'s output there")


def test_entries_name_real_threshold_settings_and_have_reasons():
    fields = {f.name for f in dataclasses.fields(DriftSettings)}
    assert len({t.name for t in REGISTRY}) == len(REGISTRY)
    for t in REGISTRY:
        assert {t.warning, t.critical} <= fields, t.name
        assert t.why_defaults, t.name
        warning, critical = t.thresholds(DriftSettings())
        assert 0 < warning < critical


@pytest.mark.parametrize("profile,expected", [
    (ColumnProfile("x", "numeric", distinct=500), "ks"),
    # few distinct values: compared as categories, though numeric
    (ColumnProfile("x", "numeric", distinct=4, categories={"1": 5, "2": 5, "3": 5, "4": 5}), "chi2"),
    # as many distinct values as low_cardinality allows (10) is still few; one more is not
    (ColumnProfile("x", "numeric", distinct=10, categories={str(i): 1 for i in range(10)}), "chi2"),
    (ColumnProfile("x", "numeric", distinct=11, categories={str(i): 1 for i in range(11)}), "ks"),
    (ColumnProfile("x", "categorical", distinct=3, categories={"a": 1, "b": 1, "c": 1}), "chi2"),
    (ColumnProfile("x", "boolean", distinct=2, categories={"true": 1, "false": 1}), "two_proportion_z"),
    (ColumnProfile("x", "datetime", distinct=100), None),
    (ColumnProfile("x", "text", distinct=100), None),
])
def test_selection_is_the_first_entry_that_applies(profile, expected):
    chosen = select(profile, DriftSettings())
    assert (chosen.name if chosen else None) == expected


def test_low_cardinality_setting_moves_numeric_features_between_tests():
    p = ColumnProfile("x", "numeric", distinct=4, categories={"1": 5, "2": 5, "3": 5, "4": 5})
    s = DriftSettings()
    s.low_cardinality = 3
    assert select(p, s).name == "ks"


def test_a_new_statistic_is_one_function_and_one_entry(monkeypatch, credit_baseline):
    """An entry placed first takes over the features it applies to, with its own name, effect size and
    thresholds; the Bonferroni correction and the dataset verdict work on it unchanged."""

    def mean_difference(baseline, p, c, s) -> Measured | str:
        x = c.finite_sorted
        return Measured(statistic=float(x.mean() - p.mean), p_value=0.0, effect=abs(float(x.mean() - p.mean)),
                        rows=int(x.size), details={})

    entry = DriftTest(
        name="mean_difference", applies_to=lambda p, s: p.name == "income", measure=mean_difference,
        effect_size_name="absolute_mean_difference", warning="boolean_effect_warning",
        critical="boolean_effect_critical", why_defaults="for this test only", applies_to_text="income",
        test_text="difference of means", effect_size_text="absolute mean difference", also_reported_text="")
    monkeypatch.setattr(registry, "REGISTRY", (entry, *REGISTRY))
    settings = credit_settings()
    batch = credit_batch(600, 3)
    res = analyse_table(pa.Table.from_pandas(batch, preserve_index=False), credit_baseline, settings)
    income = res.drift.features["income"]
    assert (income.test, income.effect_size_name) == ("mean_difference", "absolute_mean_difference")
    assert income.effect_threshold == settings.drift.boolean_effect_warning
    assert income.drifted and income.p_threshold == pytest.approx(
        settings.drift.alpha * (1 - settings.drift.dataset_alpha_share) / res.drift.tested_count)
    # the other features still get the built-in tests
    assert res.drift.features["credit_score"].test == "ks"
    assert res.drift.features["region"].test == "chi2"
    assert "| income | `mean_difference`: difference of means |" in drift_test_table()
