"""Tail probabilities of the null distributions the drift tests use, in NumPy and the standard library.

SciPy's values without importing SciPy: ``import scipy.special`` costs about 0.3 s and ``scipy.stats`` about
1 s, more than a whole ``sentinel check`` of a small batch should take. Each function reproduces one SciPy
function, by the same algorithm where SciPy's is simple enough to port and by an exact computation otherwise;
tests/test_distributions.py holds them to SciPy's values (relative 1e-12) over their whole range of use.

- ``kolmogorov_sf``: ``scipy.special.kolmogorov`` (same series, same floating-point operations).
- ``kstwo_sf``: ``scipy.stats.kstwo.sf`` for n < 141: SciPy's algorithms (Ruben-Gambino, Durbin/Marsaglia-
  Tsang-Wang, Pomeranz; ported from scipy/stats/_ksstats.py, BSD-3-Clause, Copyright SciPy developers), with
  the one-sided Smirnov tail computed exactly in integers and rounded once.
- ``chi2_sf``: ``scipy.special.chdtrc`` for whole degrees of freedom up to 400 (a finite sum of positive terms,
  exact to a few ulp); other arguments are SciPy's own.
- ``normal_cdf``: ``scipy.special.ndtr`` (Cephes' branches, with the C library's erf/erfc).
"""

from __future__ import annotations

import math

import numpy as np

_E128 = 128
_EP128 = np.ldexp(np.longdouble(1), _E128)
_EM128 = np.ldexp(np.longdouble(1), -_E128)
_KOLMOG_CUTOVER = 0.82
_KOLMOG_NEGLIGIBLE = math.pi / math.sqrt(746 * 8)  # below it exp() of the series' first term underflows
_MAXLOG = 7.09782712893383996843e2  # log(DBL_MAX), Cephes' underflow bound for erfc
_KSTWO_EXACT_MAX_N = 140  # SciPy's own bound for the exact small-sample algorithms
_CHI2_MAX_DOF = 400  # chi2_sf's own sums up to here (SciPy's error grows with dof: 3e-13 at 400, 9e-13 at 1000)
_CHI2_MAX_HALF_STAT = 700.0  # float sums up to here (exp(-700) is a normal number), decimal sums beyond


def _clip(p: float) -> float:
    return float(min(max(p, 0.0), 1.0))


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for Kolmogorov's limiting distribution K (``scipy.special.kolmogorov``)."""
    if math.isnan(x):
        return math.nan
    if x <= _KOLMOG_NEGLIGIBLE:
        return 1.0
    if x <= _KOLMOG_CUTOVER:
        # Jacobi theta form: P(K <= x) = w u (1 + u^8 + u^24 + ...), u = exp(-pi^2 / (8 x^2)), w = sqrt(2 pi) / x
        w = math.sqrt(2 * math.pi) / x
        logu8 = -math.pi * math.pi / (x * x)
        u = math.exp(logu8 / 8)
        if u == 0:
            cdf = math.exp(logu8 / 8 + math.log(w))
        else:
            u8 = math.exp(logu8)
            p = 1 + math.pow(u8, 3)
            p = 1 + u8 * u8 * p
            p = 1 + u8 * p
            cdf = w * u * p
        return _clip(1 - cdf)
    # Alternating series: P(K > x) = 2 (v - v^4 + v^9 - ...) = 2 v (1 - v^3 (1 - v^5 (1 - v^7))), v = exp(-2 x^2)
    v = math.exp(-2 * x * x)
    v3 = math.pow(v, 3)
    p = 1 - v3 * v3 * v
    p = 1 - v3 * (v * v) * p
    p = 1 - v3 * p
    return _clip(2 * v * p)


def smirnov_sf(n: int, x: float) -> float:
    """P(D+_n >= x) for the one-sided one-sample KS statistic (``scipy.special.smirnov``), exact.

    Birnbaum-Tingey: sum over j <= n (1 - x) of C(n, j) x (x + j/n)^(j-1) (1 - x - j/n)^(n-j). With x = a/b
    every term is an integer over (b n)^n, so the sum is computed in integers and rounded once (Python's
    int / int is correctly rounded). Meant for small n (the cost grows as n^2 digits).
    """
    if math.isnan(x):
        return math.nan
    if x <= 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    if n == 1:
        return 1.0 - x
    a, b = x.as_integer_ratio()
    an, bn = a * n, b * n
    total = (bn - an) ** n  # j = 0: (1 - x)^n
    for j in range(1, (bn - an) // b + 1):
        total += math.comb(n, j) * an * (an + j * b) ** (j - 1) * (bn - an - j * b) ** (n - j)
    return _clip(total / bn**n)


def _kolmogn_dmtw_cdf(n: int, d: np.float64) -> np.float64:
    """P(D_n <= d): Durbin's matrix algorithm as Marsaglia, Tsang and Wang compute it (SciPy's port)."""
    if d >= 1.0:
        return np.float64(1.0)
    nd = n * d
    if nd <= 0.5:
        return np.float64(0.0)
    k = int(np.ceil(nd))
    h = k - nd
    m = 2 * k - 1
    H = np.zeros([m, m])
    intm = np.arange(1, m + 1)
    v = 1.0 - h**intm
    w = np.empty(m)
    fac = 1.0
    for j in intm:
        w[j - 1] = fac
        fac /= j
        v[j - 1] *= fac
    tt = max(2 * h - 1.0, 0) ** m - 2 * h**m
    v[-1] = (1.0 + tt) * fac
    for i in range(1, m):
        H[i - 1:, i] = w[:m - i + 1]
    H[:, 0] = v
    H[-1, :] = np.flip(v, axis=0)
    Hpwr = np.eye(np.shape(H)[0])
    nn = n
    expnt = 0
    Hexpnt = 0
    while nn > 0:
        if nn % 2:
            Hpwr = np.matmul(Hpwr, H)
            expnt += Hexpnt
        H = np.matmul(H, H)
        Hexpnt *= 2
        if np.abs(H[k - 1, k - 1]) > _EP128:
            H /= _EP128
            Hexpnt += _E128
        nn = nn // 2
    p = Hpwr[k - 1, k - 1]
    for i in range(1, n + 1):
        p = i * p / n
        if np.abs(p) < _EM128:
            p *= _EP128
            expnt -= _E128
    if expnt != 0:
        p = np.ldexp(p, expnt)
    return np.clip(p, 0.0, 1.0)


def _pomeranz_j1j2(i: int, n: int, ll: int, ceilf: int, roundf: int) -> tuple[int, int]:
    if i == 0:
        j1, j2 = -ll - ceilf - 1, ll + ceilf - 1
    else:
        ip1div2, ip1mod2 = divmod(i + 1, 2)
        if ip1mod2 == 0:
            if ip1div2 == n + 1:
                j1, j2 = n - ll - ceilf - 1, n + ll + ceilf - 1
            else:
                j1, j2 = ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1
        else:
            j1, j2 = ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1
    return max(j1 + 2, 0), min(j2, n)


def _kolmogn_pomeranz_cdf(n: int, x: np.float64) -> np.float64:
    """P(D_n <= x): Pomeranz's recursion (SciPy's port), two rows of Poisson-weighted convolutions."""
    t = n * x
    ll = int(np.floor(t))
    f = 1.0 * (t - ll)
    g = min(f, 1.0 - f)
    ceilf = 1 if f > 0 else 0
    roundf = 1 if f > 0.5 else 0
    npwrs = 2 * (ll + 1)
    gpower = np.empty(npwrs)
    twogpower = np.empty(npwrs)
    onem2gpower = np.empty(npwrs)
    gpower[0] = twogpower[0] = onem2gpower[0] = 1.0
    expnt = 0
    g_over_n, two_g_over_n, one_minus_two_g_over_n = g / n, 2 * g / n, (1 - 2 * g) / n
    for m in range(1, npwrs):
        gpower[m] = gpower[m - 1] * g_over_n / m
        twogpower[m] = twogpower[m - 1] * two_g_over_n / m
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m
    V0 = np.zeros([npwrs])
    V1 = np.zeros([npwrs])
    V1[0] = 1
    V0s, V1s = 0, 0
    j1, j2 = _pomeranz_j1j2(0, n, ll, ceilf, roundf)
    for i in range(1, 2 * n + 2):
        k1 = j1
        V0, V1 = V1, V0
        V0s, V1s = V1s, V0s
        V1.fill(0.0)
        j1, j2 = _pomeranz_j1j2(i, n, ll, ceilf, roundf)
        pwrs = gpower if i == 1 or i == 2 * n + 1 else (twogpower if i % 2 else onem2gpower)
        ln2 = j2 - k1 + 1
        if ln2 > 0:
            conv = np.convolve(V0[k1 - V0s:k1 - V0s + ln2], pwrs[:ln2])
            conv_start = j1 - k1
            conv_len = j2 - j1 + 1
            V1[:conv_len] = conv[conv_start:conv_start + conv_len]
            if 0 < np.max(V1) < _EM128:
                V1 *= _EP128
                expnt -= _E128
            V1s = V0s + j1 - k1
    ans = V1[n - V1s]
    for m in range(1, n + 1):
        if np.abs(ans) > _EP128:
            ans *= _EM128
            expnt += _E128
        ans *= m
    if expnt != 0:
        ans = np.ldexp(ans, expnt)
    return np.clip(ans, 0.0, 1.0)


def kstwo_sf(d: float, n: int) -> float:
    """P(D_n >= d) for the two-sided one-sample KS statistic with n <= 140 (``scipy.stats.kstwo.sf``).

    SciPy's choice of method by region (Simard and L'Ecuyer 2011): closed forms near the ends, the Durbin
    matrix for small n d^2, Pomeranz's recursion up to n d^2 = 4, twice the one-sided tail beyond.
    """
    if not 1 <= n <= _KSTWO_EXACT_MAX_N or n != int(n):
        raise ValueError(f"kstwo_sf is for whole n from 1 to {_KSTWO_EXACT_MAX_N}, not {n}")
    n = int(n)
    if math.isnan(d):
        return math.nan
    x = np.float64(d)
    if x >= 1.0:
        return 0.0
    t = n * x
    if t <= 0.5:
        return 1.0
    if t <= 1.0:  # Ruben-Gambino
        return _clip(1.0 - np.prod(np.arange(1, n + 1) * (1.0 / n) * (2 * t - 1)))
    if t >= n - 1:  # Ruben-Gambino
        return _clip(2 * (1.0 - x) ** n)
    if x >= 0.5:
        return _clip(2 * smirnov_sf(n, float(x)))
    nxsquared = t * x
    if nxsquared <= 0.754693:
        return _clip(1.0 - _kolmogn_dmtw_cdf(n, x))
    if nxsquared <= 4:
        return _clip(1.0 - _kolmogn_pomeranz_cdf(n, x))
    return _clip(2 * smirnov_sf(n, float(x)))


def chi2_sf(stat: float, dof: int) -> float:
    """P(X >= stat) for X ~ chi-square(dof) (``scipy.special.chdtrc``).

    For whole dof the upper tail is a finite sum of positive terms: with y = stat / 2, for dof = 2k it is
    exp(-y) sum_{i<k} y^i / i!, and for dof = 2k + 1 it is erfc(sqrt(y)) + exp(-y) sum_{i=1..k} y^(i-1/2) /
    Gamma(i + 1/2). Summed in floats up to y = 700 (exp(-y) still a normal number), in 40-digit decimals beyond.
    Other arguments (dof not whole or above 400, where SciPy's own error nears 1e-12) are SciPy's.
    """
    if math.isnan(stat):
        return math.nan
    if not (1 <= dof <= _CHI2_MAX_DOF and dof == int(dof) and 0 <= stat < math.inf):
        from scipy import special

        return float(special.chdtrc(dof, stat))
    k, odd = divmod(int(dof), 2)
    y = stat / 2
    if y > _CHI2_MAX_HALF_STAT:
        return _clip(_chi2_sf_decimal(y, k, odd))
    e = math.exp(-y)
    if odd:
        root = math.sqrt(y)
        total = math.erfc(root)
        term = e * root / (math.sqrt(math.pi) / 2)  # i = 1: y^(1/2) / Gamma(3/2)
        for i in range(1, k + 1):
            total += term
            term *= y / (i + 0.5)
    else:
        total = 0.0
        term = e
        for i in range(1, k + 1):
            total += term
            term *= y / i
    return _clip(total)


_PI_40 = "3.141592653589793238462643383279502884197"


def _chi2_sf_decimal(y: float, k: int, odd: int) -> float:
    """The same sums in 40-digit decimals, whose exponent range does not underflow; for y > 700 the
    asymptotic series of erfc(sqrt(y)) converges far below that precision."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 40
        yd = Decimal(y)
        e = (-yd).exp()
        if odd:
            pi = Decimal(_PI_40)
            series, t, n = Decimal(1), Decimal(1), 0
            while abs(t) > Decimal("1e-45"):
                n += 1
                t = -t * (2 * n - 1) / (2 * yd)
                series += t
            total = e / (pi * yd).sqrt() * series
            term = e * yd.sqrt() / (pi.sqrt() / 2)
            for i in range(1, k + 1):
                total += term
                term = term * yd / (i + Decimal("0.5"))
        else:
            total, term = Decimal(0), e
            for i in range(1, k + 1):
                total += term
                term = term * yd / i
        return float(total)


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z (``scipy.special.ndtr``, Cephes' branches)."""
    if math.isnan(z):
        return math.nan
    x = z * math.sqrt(0.5)
    a = abs(x)
    if a < 1.0:
        return 0.5 + 0.5 * math.erf(x)
    y = 0.0 if a * a > _MAXLOG else 0.5 * math.erfc(a)  # Cephes underflows to 0 here; the C library does not
    return 1.0 - y if x > 0 else y
