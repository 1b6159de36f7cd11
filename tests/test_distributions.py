"""The tail probabilities of stats/distributions.py and stats/discrete.py are SciPy's (relative 1e-12) over their
whole range of use, so computing them without importing SciPy changes no p-value, effect size or status."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from sentinel_tui.stats import discrete
from sentinel_tui.stats import distributions as dist
from sentinel_tui.stats import univariate as uv

REL = 1e-12


def assert_close(ours: np.ndarray, scipy_values: np.ndarray, where: str, tiny: float = 0.0) -> None:
    """Equal to relative 1e-12; values SciPy puts below ``tiny`` (subnormal tails) only have to be as small."""
    ours, scipy_values = np.asarray(ours, dtype=float), np.asarray(scipy_values, dtype=float)
    assert ours.shape == scipy_values.shape
    small = scipy_values <= tiny
    assert np.all(ours[small] <= max(tiny, 0.0) * 2), where
    big = ~small
    rel = np.abs(ours[big] - scipy_values[big]) / scipy_values[big]
    worst = int(np.argmax(rel)) if rel.size else 0
    assert rel.size == 0 or rel[worst] <= REL, f"{where}: relative difference {rel[worst]:.3g}"


def test_kolmogorov_sf_is_scipys():
    x = np.concatenate([np.linspace(0, 12, 60_001), [0.04, dist._KOLMOG_NEGLIGIBLE, 0.82, np.nextafter(0.82, 1)]])
    ours = np.array([dist.kolmogorov_sf(float(v)) for v in x])
    assert_close(ours, special.kolmogorov(x), "kolmogorov")
    assert math.isnan(dist.kolmogorov_sf(math.nan))


def _ks_grid(n: int) -> np.ndarray:
    knots = np.arange(n + 1) / n  # the distribution is piecewise polynomial with knots at i / n
    return np.unique(np.concatenate([np.linspace(0, 1, 301), knots, np.nextafter(knots, 2), np.nextafter(knots, -1),
                                     [0.5, np.nextafter(0.5, 0), 0.5 / n]]).clip(0, 1))


@pytest.mark.parametrize("n", [*range(1, 30), 40, 77, 140])
def test_kstwo_sf_is_scipys(n):
    d = _ks_grid(n)
    ours = np.array([dist.kstwo_sf(float(v), n) for v in d])
    assert_close(ours, stats.kstwo.sf(d, n), f"kstwo n={n}")


@pytest.mark.parametrize("n", [2, 3, 5, 10, 17, 29, 60])
def test_smirnov_sf_is_scipys(n):
    d = _ks_grid(n)
    ours = np.array([dist.smirnov_sf(n, float(v)) for v in d])
    assert_close(ours, special.smirnov(n, d), f"smirnov n={n}")


@pytest.mark.parametrize("n,m", [(2, 3), (5, 7), (10, 50_000), (12, 13), (20, 45), (25, 100), (40, 44),
                                 (50, 60), (29, 3_000), (1, 2)])
def test_small_sample_ks_pvalue_is_scipys_kstwo_for_every_attainable_statistic(n, m):
    """Below an effective size of 30 the KS p-value was ``scipy.stats.kstwo.sf`` (one second to import); it is
    computed here without SciPy: the same value for the statistics two samples of these sizes can produce
    (multiples of 1 / lcm(n, m): all of them, or 2,000 spread over them)."""
    en = round(n * m / (n + m))
    assert 1 <= en < uv._KSTWO_MAX_N
    lcm = math.lcm(n, m)
    k = np.unique(np.linspace(0, lcm, min(lcm, 2_000) + 1).round().astype(np.int64))
    d = k / lcm
    ours = np.array([uv.ks_pvalue(float(v), n, m) for v in d])
    assert_close(ours, stats.kstwo.sf(d, en), f"ks_pvalue n={n} m={m}")


def test_large_sample_ks_pvalue_is_stephens_kolmogorov():
    for n, m in [(30, 10_000), (1_000, 50_000), (100_000, 50_000)]:
        en = float(np.round(n * m / (n + m)))
        root = np.sqrt(en)
        for d in np.linspace(0, 0.5, 501):
            expected = float(np.clip(special.kolmogorov((root + 0.12 + 0.11 / root) * d), 0, 1))
            assert uv.ks_pvalue(float(d), n, m) == pytest.approx(expected, rel=REL, abs=0)
    arr = uv.ks_pvalue(np.array([0.01, 0.02]), 1000, 1000)
    assert arr.shape == (2,) and arr[0] > arr[1]
    assert math.isnan(uv.ks_pvalue(0.5, 1, 1))  # an effective size of 0, as SciPy's kstwo


@pytest.mark.parametrize("dof", [*range(1, 41), 57, 64, 99, 128, 201, 256, 333, 399, 400])
def test_chi2_sf_is_scipys(dof):
    x = np.concatenate([np.linspace(0, 3_000, 3_001), np.geomspace(1e-9, 3_000, 300), [1_399.99, 1_400, 1_400.01]])
    ours = np.array([dist.chi2_sf(float(v), dof) for v in x])
    assert_close(ours, special.chdtrc(dof, x), f"chi2 dof={dof}", tiny=1e-300)


def test_chi2_sf_outside_its_range_is_scipys_own():
    for dof, x in [(401, 450.0), (1_000, 1_100.0), (2.5, 3.0), (3, math.inf)]:
        assert dist.chi2_sf(x, dof) == float(special.chdtrc(dof, x))
    assert math.isnan(dist.chi2_sf(math.nan, 3))


def test_normal_cdf_is_scipys():
    z = np.linspace(-40, 40, 160_001)
    ours = np.array([dist.normal_cdf(float(v)) for v in z])
    assert_close(ours, special.ndtr(z), "ndtr", tiny=1e-300)
    assert dist.normal_cdf(-38.0) == 0.0 == float(special.ndtr(-38.0))  # where Cephes underflows, so do we


def test_the_comparisons_use_them():
    ref, cur = np.array([400, 300, 200, 100]), np.array([30, 45, 15, 10])
    res = uv.chi2_homogeneity(ref, cur)
    assert res.p_value == pytest.approx(float(special.chdtrc(res.dof, res.statistic)), rel=REL)
    prop = uv.two_proportions(300, 1000, 400, 1000)
    assert prop.p_value == pytest.approx(float(2 * special.ndtr(-abs(prop.statistic))), rel=REL)


def test_binomial_sf_is_scipys():
    rng = np.random.default_rng(3)
    ps = [0.0, 1.0, 0.5, 1e-5, 2 / 50_001, 0.5 / 200_000, 0.02, 0.37, 0.999,
          *rng.random(6), *10 ** rng.uniform(-7, -1, 6)]
    for n in [1, 2, 3, 10, 11, 29, 64, 100, 257, 500]:
        for k in sorted({0, 1, n // 2, n - 1, n, min(3, n), *rng.integers(0, n + 1, 4).tolist()}):
            ours = np.array([discrete.binomial_sf(k - 1, n, p) for p in ps])
            assert_close(ours, special.bdtrc(k - 1, n, np.array(ps)), f"bdtrc k={k} n={n}", tiny=1e-300)
    for k, n, p in [(3, 501, 0.01), (700, 2_000, 0.4)]:  # beyond the exact range: SciPy's own value
        assert discrete.binomial_sf(k, n, p) == float(special.bdtrc(k, n, p))
    assert math.isnan(discrete.binomial_sf(2, 1, 0.5)) and math.isnan(float(special.bdtrc(2, 1, 0.5)))


def _fisher_tables() -> list[list[list[int]]]:
    rng = np.random.default_rng(4)
    tables = [[[a, 10 - a], [c, 10 - c]] for a in range(11) for c in range(11)]
    tables += [[[5, 5], [5, 5]], [[0, 10], [0, 50_000]], [[10, 0], [50_000, 0]], [[8, 2], [1, 5]], [[0, 0], [3, 4]]]
    for _ in range(400):
        batch, ref = int(rng.integers(1, 80)), int(rng.choice([3, 40, 500, 20_000, 99_000]))
        share = float(rng.choice([0.001, 0.01, 0.05, 0.5, 0.97, 0.999]))
        hits, ref_hits = int(rng.binomial(batch, min(1.0, share * rng.uniform(0.3, 3)))), int(rng.binomial(ref, share))
        tables.append([[hits, batch - hits], [ref_hits, ref - ref_hits]])
    return tables


def test_fisher_exact_is_scipys():
    for table in _fisher_tables():
        odds, p = discrete.fisher_exact(table)
        expected = stats.fisher_exact(table)
        assert odds == float(expected.statistic) or (math.isnan(odds) and math.isnan(expected.statistic)), table
        assert p == pytest.approx(float(expected.pvalue), rel=REL, abs=0), table
    big = [[3, 7], [150_000, 350_000]]  # SciPy approximates above a population of 104,729: its value is kept
    assert discrete.fisher_exact(big)[1] == float(stats.fisher_exact(big).pvalue)


@pytest.mark.parametrize("n,a,b", [(10, 2, 9), (100, 2, 283), (30, 1, 1), (40, 3, 17)])
def test_beta_binomial_sf_is_the_exact_sum(n, a, b):
    """Integer a and b: the pmf is a ratio of factorials, summed exactly in fractions."""
    from fractions import Fraction

    def beta(x: int, y: int) -> Fraction:
        return Fraction(math.factorial(x - 1) * math.factorial(y - 1), math.factorial(x + y - 1))

    def exact(k: int) -> float:
        return float(sum(math.comb(n, x) * beta(x + a, n - x + b) for x in range(k + 1, n + 1)) / beta(a, b))

    for k in range(-1, n + 1):
        assert discrete.beta_binomial_sf(k, n, a, b) == pytest.approx(exact(k), rel=1e-11, abs=1e-300), k


def test_beta_binomial_sf_matches_scipy_for_fractional_parameters():
    """To 1e-10 absolute: SciPy computes 1 - cdf, off by about 2e-11 at n = 5,000, k = 7 (against the
    exact sum of fractions; this function is within 1e-11 there)."""
    for n, a, b in [(1000, 0.5, 3000.5), (20, 3.5, 100.5), (5000, 2.0, 10000.0)]:
        for k in range(0, min(n, 300), 7):
            want = stats.betabinom.sf(k, n, a, b)
            assert discrete.beta_binomial_sf(k, n, a, b) == pytest.approx(want, rel=1e-9, abs=1e-10), (n, k)
