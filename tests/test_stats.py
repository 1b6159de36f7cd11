"""Every test statistic against SciPy or a value worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from sentinel_tui.stats import univariate as uv


@pytest.mark.parametrize("n,m", [(3, 4), (50, 80), (100, 50_000), (5_000, 3_000), (100_000, 50_000)])
@pytest.mark.parametrize("kind", ["continuous", "discrete", "shifted"])
def test_ks_and_wasserstein_match_scipy(n, m, kind):
    rng = np.random.default_rng(n + m)
    if kind == "discrete":
        ref, batch = rng.integers(0, 6, m).astype(float), rng.integers(0, 7, n).astype(float)
    elif kind == "shifted":
        ref, batch = rng.lognormal(2, 1, m) + 1e6, rng.lognormal(2.3, 0.8, n) + 1e6
    else:
        ref, batch = rng.normal(0, 1, m), rng.normal(0, 1, n)
    res = uv.compare_numeric(uv.SortedReference.from_values(ref), np.sort(batch))
    expected = stats.ks_2samp(ref, batch, method="asymp")
    assert res.ks_statistic == pytest.approx(expected.statistic, abs=1e-12)
    # SciPy's kstwo below an effective size of 30, Stephens' approximation above (within 7% of it)
    assert res.p_value == pytest.approx(expected.pvalue, rel=0.07, abs=1e-12)
    assert res.wasserstein == pytest.approx(stats.wasserstein_distance(ref, batch), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("en", [10, 30, 100, 1000, 33_333])
def test_ks_pvalue_follows_kstwo_in_the_tail(en):
    for p in (0.05, 1e-3, 1e-5):
        d = stats.kstwo.isf(p, en)
        assert 0.95 <= uv.ks_pvalue(d, 2 * en, 2 * en) / p <= 1.2


def test_predictive_tail_is_the_beta_binomial_with_jeffreys_prior():
    from sentinel_tui.checks.validation import _predictive_tail

    # 12 of 1,000 batch values when the reference had 5 of 1,000: Beta(5.5, 995.5) for the rate
    assert _predictive_tail(12, 1000, 5, 1000) == pytest.approx(stats.betabinom.sf(11, 1000, 5.5, 995.5))
    assert _predictive_tail(0, 10, 5, 10) == 1.0
    # wider than the binomial at the point estimate: the reference's rate is itself uncertain
    assert _predictive_tail(12, 1000, 5, 1000) > stats.binom.sf(11, 1000, 0.005)


def test_psi_known_value():
    ref = np.array([0.5, 0.5])
    counts = np.array([75, 25])
    expected = (0.75 - 0.5) * np.log(0.75 / 0.5) + (0.25 - 0.5) * np.log(0.25 / 0.5)
    assert uv.psi(ref, counts) == pytest.approx(expected)
    assert uv.psi(ref, np.array([50, 50])) == 0.0


def test_histogram_counts_open_outer_bins():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    batch = np.sort(np.array([-5.0, 0.5, 1.0, 1.5, 2.5, 99.0]))
    assert uv.histogram_counts(batch, edges).tolist() == [3, 1, 2]


def test_jensen_shannon_matches_scipy():
    p, q = np.array([10, 20, 30, 0]), np.array([5, 5, 40, 10])
    assert uv.jensen_shannon(p, q) == pytest.approx(jensenshannon(p / p.sum(), q / q.sum()))
    assert uv.jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-9)


def test_chi2_matches_scipy_contingency_when_counts_are_large():
    ref, cur = np.array([4000, 3000, 2000, 1000]), np.array([420, 300, 180, 100])
    res = uv.chi2_homogeneity(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert res.statistic == pytest.approx(expected.statistic)
    assert res.p_value == pytest.approx(expected.pvalue)
    assert res.dof == 3 and res.merged_bins == 0


def test_chi2_pools_rare_bins_to_keep_expected_counts_valid():
    ref = np.array([9000, 800, 100, 60, 40])
    cur = np.array([90, 8, 1, 1, 0])  # expected batch counts of the last three are < 5
    res = uv.chi2_homogeneity(ref, cur)
    assert res.merged_bins == 3
    assert res.dof == 1  # the pooled rare bin (expected 2) is still < 5, so "mid" joins it
    assert res.p_value > 0.05


def test_two_proportion_z_matches_formula_and_fisher_for_small_counts():
    res = uv.two_proportions(300, 1000, 400, 1000)
    p = 700 / 2000
    z = (0.4 - 0.3) / np.sqrt(p * (1 - p) * (2 / 1000))
    assert not res.exact
    assert res.statistic == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert res.cohens_h == pytest.approx(abs(2 * np.arcsin(np.sqrt(0.4)) - 2 * np.arcsin(np.sqrt(0.3))))
    small = uv.two_proportions(1000, 50_000, 3, 20)
    assert small.exact
    assert small.p_value == pytest.approx(stats.fisher_exact([[3, 17], [1000, 49_000]]).pvalue)
