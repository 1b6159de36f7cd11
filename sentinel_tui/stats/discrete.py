"""Tail probabilities of count distributions, exact in integer arithmetic: the binomial upper tail and Fisher's
exact test on a 2 x 2 table, as SciPy computes them, without importing SciPy.

They matter most for small batches: one missing value in a batch of 10 asks for a binomial tail, and a boolean
feature of a small batch is tested with Fisher's exact test; importing scipy.special (0.3 s) or scipy.stats (1 s)
for them would cost more than the whole ``sentinel check``. The probabilities are rational numbers of the
inputs (the probability a float, so a dyadic rational), summed exactly and rounded once. Where SciPy's own values
are less accurate than 1e-12 (long batches, populations over 100,000) SciPy still computes them, so p-values do
not change; tests/test_distributions.py holds the exact ones to SciPy's.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used: with decimal it costs 3 ms, and only Fisher's test needs it
    from fractions import Fraction

_BINOMIAL_MAX_N = 500  # exact sums up to here (SciPy agrees to 3e-13; its own error reaches 2e-12 by 1,000)
_FISHER_MAX_SUPPORT = 400  # tables with more possible values of the first cell go to scipy.stats
# SciPy (Boost) computes hypergeometric probabilities exactly, by prime factorisation, for populations up to
# 104,729 (its largest tabled prime) and approximately beyond (measured: relative errors of 2e-11 to 3e-10):
# larger tables keep SciPy's values.
_FISHER_MAX_POPULATION = 100_000
_FISHER_EPSILON = 1e-14  # SciPy's tolerance for "as likely as the observed table"


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p) (``scipy.special.bdtrc(k, n, p)``), for whole k and n."""
    if not (0 <= p <= 1) or n < 0 or k != int(k) or n != int(n):
        return _scipy_bdtrc(k, n, p)
    k, n = int(k), int(n)
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0 if k == n else math.nan  # as SciPy: k beyond n is outside the domain
    if n > _BINOMIAL_MAX_N:
        return _scipy_bdtrc(k, n, p)
    a, b = float(p).as_integer_ratio()  # p = a / b, b a power of two
    q = b - a
    # The terms C(n, j) a^j q^(n-j) are integers over b^n; summed over the shorter side (the other side is b^n
    # minus it, exactly), each from the one before: t(j+1) = t(j) (n - j) a / ((j + 1) q), an exact division.
    if n - k <= k + 1:
        first, last, complement = k + 1, n, False
    else:
        first, last, complement = 0, k, True
    if a == 0 or q == 0:  # p is 0 or 1: one term only
        side = b**n if (a == 0) == (first == 0) else 0
    else:
        term = math.comb(n, first) * a**first * q ** (n - first)
        side = term
        for j in range(first, last):
            term = term * (n - j) * a // ((j + 1) * q)
            side += term
    total = b**n - side if complement else side
    return total / b**n


def beta_binomial_sf(k: int, n: int, a: float, b: float) -> float:
    """P(X > k) for X ~ BetaBinomial(n, a, b): a binomial count whose probability is itself uncertain, Beta(a, b).

    The predictive distribution of a batch count when the rate comes from a finite reference: the share of a
    new batch outside the range of m reference values is exactly BetaBinomial(n, 2, m - 1) for continuous data,
    whatever the distribution. Summed from the pmf's ratio of consecutive terms on the side of the tail that is
    shorter to reach, in floats (relative error about 1e-13, ample for comparing with a significance level).
    """
    k, n = int(k), int(n)
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    lg = math.lgamma

    def pmf(x: int) -> float:
        return math.exp(lg(n + 1) - lg(x + 1) - lg(n - x + 1) + lg(x + a) + lg(n - x + b) - lg(n + a + b)
                        + lg(a + b) - lg(a) - lg(b))

    if k + 1 >= n * a / (a + b):  # the upper tail, from k + 1 up: its terms fall once past the mode
        x, term, total = k + 1, pmf(k + 1), 0.0
        while True:
            total += term
            if term <= total * 1e-17 or x == n:
                break
            term *= (n - x) / (x + 1) * (x + a) / (n - x - 1 + b)
            x += 1
        return min(total, 1.0)
    x, term, total = k, pmf(k), 0.0  # the lower side, from k down, and its complement
    while x >= 0:
        total += term
        if term <= total * 1e-17 or x == 0:
            break
        term *= x / (n - x + 1) * (n - x + b) / (x - 1 + a)
        x -= 1
    return max(1.0 - total, 0.0)


def _scipy_bdtrc(k: float, n: float, p: float) -> float:
    from scipy import special

    return float(special.bdtrc(k, n, p))


def fisher_exact(table: list[list[int]]) -> tuple[float, float]:
    """Two-sided Fisher's exact test on a 2 x 2 table of counts: (sample odds ratio, p-value), as
    ``scipy.stats.fisher_exact(table)``: the probability, given the margins, of the tables at most as likely as
    the observed one (within SciPy's relative tolerance of 1e-14), found on each side of the mode the way SciPy
    finds them. The hypergeometric probabilities are exact ratios of the first cell's possible values."""
    (a, b), (c, d) = ((int(v) for v in row) for row in table)
    if min(a, b, c, d) < 0:
        raise ValueError("a contingency table holds counts >= 0")
    if 0 in (a + b, c + d, a + c, b + d):
        return math.nan, 1.0
    odds = float(a * d) / float(c * b) if c > 0 and b > 0 else math.inf
    n1, n2, n = a + b, c + d, a + c
    lo, hi = max(0, n - n2), min(n, n1)
    if hi - lo > _FISHER_MAX_SUPPORT or n1 + n2 > _FISHER_MAX_POPULATION:
        from scipy import stats

        res = stats.fisher_exact(table)
        return float(res.statistic), float(res.pvalue)
    from fractions import Fraction

    epsilon, gamma = Fraction(_FISHER_EPSILON), Fraction(1 + _FISHER_EPSILON)  # the floats SciPy uses, exactly
    # Weights proportional to the hypergeometric probabilities, from the ratio of consecutive ones.
    weights = [Fraction(1)]
    for x in range(lo, hi):
        weights.append(weights[-1] * Fraction((n1 - x) * (n - x), (x + 1) * (n2 - n + x + 1)))
    total = sum(weights)

    def pmf(x: int) -> Fraction:
        return weights[x - lo] / total if lo <= x <= hi else Fraction(0)

    def mass(first: int, last: int) -> Fraction:  # P(first <= X <= last)
        return sum(weights[max(first, lo) - lo:max(min(last, hi) - lo + 1, 0)], Fraction(0)) / total

    mode = int(float((n + 1) * (n1 + 1)) / float(n1 + n2 + 2))
    pexact, pmode = pmf(a), pmf(mode)
    if abs(pexact - pmode) / max(pexact, pmode) <= epsilon:
        return odds, 1.0
    if a < mode:
        plower = mass(lo, a)
        if pmf(n) > pexact * gamma:
            return odds, float(plower)
        guess = _search(lambda x: -pmf(x), -pexact * gamma, mode, n)
        p = plower + mass(guess + 1, hi)
    else:
        pupper = mass(a, hi)
        if pmf(0) > pexact * gamma:
            return odds, float(pupper)
        guess = _search(pmf, pexact * gamma, 0, mode)
        p = pupper + mass(lo, guess)
    return odds, min(float(p), 1.0)


def _search(f, target: Fraction, lo: int, hi: int) -> int:
    """SciPy's binary search for the other side of the mode: i in [lo, hi] with f(i) <= target < f(i + 1)."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        value = f(mid)
        if value < target:
            lo = mid + 1
        elif value > target:
            hi = mid - 1
        else:
            return mid
    return lo if f(lo) <= target else lo - 1


def hypergeometric_two_sided(k: int, population: int, successes: int, draws: int) -> float | None:
    """Fisher's two-sided p-value for ``k`` of ``draws`` in the category, given the margins: the probability of
    the counts at most as likely as ``k``, summed over the hypergeometric support in log space with NumPy (the
    Fraction arithmetic of ``fisher_exact`` is for SciPy-equal results on small tables). None when the support
    exceeds 100,000 values: every expected count is then large, and the caller's normal approximation is within
    about 25% of it even at p = 1e-6."""
    lo, hi = max(0, draws - (population - successes)), min(draws, successes)
    if not lo <= k <= hi:
        return None
    if hi - lo > 100_000:
        return None
    if hi == lo:
        return 1.0
    x = np.arange(lo, hi, dtype=np.float64)  # every factor below is >= 1 on the support
    steps = np.log((successes - x) * (draws - x)) - np.log((x + 1) * (population - successes - draws + x + 1))
    log_w = np.concatenate([[0.0], np.cumsum(steps)])
    log_w -= log_w.max()
    w = np.exp(log_w)
    at_most = w <= w[k - lo] * (1 + 1e-7)
    return float(min(1.0, w[at_most].sum() / w.sum()))
