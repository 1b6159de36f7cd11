"""Real tabular datasets and the shift grid of the detection benchmark (after Rabanser et al. 2019, "Failing
Loudly"): shared by `make bench` (bench_detection) and the reduced false-alarm test in `make test`.

Every dataset ships inside an installed package (scikit-learn's and statsmodels' bundled files): nothing is
downloaded. Each is split once, at random, into a reference half (the baseline is built from it) and a stream
half; batches are drawn without replacement from the stream half, so a healthy batch is real, unseen data from
the same population, never a copy of reference rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import BatchResult, Status

SIZES = (20, 40, 100, 500, 1_000, 5_000)


@dataclass
class RealDataset:
    name: str
    reference: pd.DataFrame
    stream: pd.DataFrame
    stream_classes: np.ndarray  # the class of each stream row (a label that is not a feature)
    category_column: str | None  # a low-cardinality feature for the "+k points" shift
    numeric: list[str]  # features with more than two distinct values: noise, shift, scale, missing apply here
    reference_classes: np.ndarray | None = None
    baseline: Baseline | None = None
    model: Model | None = None  # with_model(): the model whose outputs every batch carries

    def sizes(self) -> list[int]:
        """Batch sizes this dataset can give without replacement and without near-copies of each other."""
        return [n for n in SIZES if n <= len(self.stream) // 2]


def _split(name: str, frame: pd.DataFrame, classes: np.ndarray, category: str | None, seed: int) -> RealDataset:
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    ref, stream = order[:half], order[half:]
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].nunique() > 2
               and c != category]
    classes = np.asarray(classes).astype(np.int64)
    return RealDataset(name, frame.iloc[ref].reset_index(drop=True), frame.iloc[stream].reset_index(drop=True),
                       classes[stream], category, numeric, reference_classes=classes[ref])


def load_datasets() -> list[RealDataset]:
    """Five datasets of mixed types: continuous, integer codes, binary and categorical features."""
    import statsmodels.datasets as smd
    from sklearn import datasets as skd

    out = []
    bc = skd.load_breast_cancer(as_frame=True)  # 569 x 30 continuous; class: malignant / benign
    out.append(_split("breast_cancer", bc.data, bc.target.to_numpy(), None, 1))
    dg = skd.load_digits(as_frame=True)  # 1,797 x 64 pixel intensities 0..16; class: the digit
    out.append(_split("digits", dg.data.astype(np.int64), dg.target.to_numpy(), None, 2))
    db = skd.load_diabetes(as_frame=True, scaled=False)  # 442 x 10; sex is 1/2; class: progression > median
    db_x = db.data.copy()
    db_x["sex"] = db_x["sex"].astype(np.int64)
    out.append(_split("diabetes", db_x, (db.target > db.target.median()).to_numpy(), "sex", 3))
    fair = smd.fair.load_pandas().data  # 6,366 x 8: codes, counts, two categorical occupations; class: an affair
    fx = fair.drop(columns=["affairs"]).copy()
    for col in ("occupation", "occupation_husb"):
        fx[col] = "occ_" + fx[col].astype(int).astype(str)
    for col in ("rate_marriage", "religious", "educ"):
        fx[col] = fx[col].astype(np.int64)
    out.append(_split("fair", fx, (fair["affairs"] > 0).to_numpy(), "occupation", 4))
    rand = smd.randhie.load_pandas().data  # 20,190 x 9: insurance plan, health, binaries; class: any doctor visit
    rx = rand.drop(columns=["mdvis"]).copy()
    for col in ("idp", "physlm", "hlthg", "hlthf", "hlthp"):
        if set(np.unique(rx[col])) <= {0.0, 1.0}:
            rx[col] = rx[col].astype(np.int64)
    out.append(_split("randhie", rx, (rand["mdvis"] > 0).to_numpy(), "lncoins", 5))
    return out


@dataclass
class Model:
    """The model a monitored service would run: trained on the reference half's labels, its outputs (the
    predicted class, and the positive-class probability or one probability per class) are columns of the
    reference and of every batch, computed after a shift is applied, as a served model sees its inputs. Monitoring
    these outputs is what Rabanser et al. found best for a change in the mix of classes (black-box shift
    detection): the labels are not in the batch, but the model's view of them is."""

    folds: list  # five models, each trained on four fifths of the reference half
    classes: np.ndarray
    reference_proba: np.ndarray  # each reference row's outputs from the model that did not train on it

    @classmethod
    def fit(cls, ds: RealDataset) -> Model:
        from sklearn.base import clone
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        text = [c for c in ds.reference.columns if not pd.api.types.is_numeric_dtype(ds.reference[c])]
        numbers = [c for c in ds.reference.columns if c not in text]
        prepare = ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
                                     ("cat", OneHotEncoder(handle_unknown="ignore"), text)])
        template = make_pipeline(prepare, LogisticRegression(max_iter=5_000))
        # The reference's outputs must be outputs on rows the model did not train on, as a validation set gives
        # them: on its own training rows a model is over-confident (the digits model's mean top probability is
        # 0.974 there, 0.940 on unseen rows). Cross-fitting gives that (0.939); a batch row then gets its outputs
        # from one of the same five models (by position), so reference and healthy batches carry outputs of the
        # same models on unseen rows, as a served model's would be.
        y = ds.reference_classes
        folds, proba = [], np.zeros((len(y), len(np.unique(y))))
        for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(ds.reference, y):
            model = clone(template).fit(ds.reference.iloc[train], y[train])
            proba[test] = model.predict_proba(ds.reference.iloc[test])
            folds.append(model)
        return cls(folds, folds[0].classes_, proba)

    def outputs(self, frame: pd.DataFrame, proba: np.ndarray | None = None) -> pd.DataFrame:
        if proba is None:
            proba = np.zeros((len(frame), len(self.classes)))
            which = np.arange(len(frame)) % len(self.folds)
            for k, model in enumerate(self.folds):
                if (rows := np.flatnonzero(which == k)).size:
                    proba[rows] = model.predict_proba(frame.iloc[rows])
        out = frame.copy()
        out["prediction"] = self.classes[np.argmax(proba, axis=1)]
        if len(self.classes) == 2:
            out["score"] = np.round(proba[:, 1], 6)
        else:
            for i, c in enumerate(self.classes):
                out[f"proba_{c}"] = np.round(proba[:, i], 6)
        return out

    def settings(self) -> Settings:
        s = Settings()
        s.columns.prediction = "prediction"
        if len(self.classes) == 2:
            s.columns.score = "score"
        else:
            s.columns.proba_prefix = "proba_"
        return s


def with_model(ds: RealDataset) -> RealDataset:
    """A copy of the dataset whose reference and batches carry a model's outputs (its baseline not built yet)."""
    out = replace(ds, baseline=None)
    out.model = Model.fit(ds)
    return out


def build(ds: RealDataset, root: Path) -> Baseline:
    path = root / f"{ds.name}{'_model' if ds.model else ''}_reference.csv"
    write_csv(ds.model.outputs(ds.reference, ds.model.reference_proba) if ds.model else ds.reference, path)
    ds.baseline = build_baseline(path, ds.name, ds.model.settings() if ds.model else Settings())
    return ds.baseline


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)


# ---------------------------------------------------------------------------------------------------------------
# Shifts: each draws one batch of n rows from the stream half and changes it.

Shift = Callable[[RealDataset, int, np.random.Generator], pd.DataFrame]


def _draw(ds: RealDataset, n: int, rng: np.random.Generator, rows: np.ndarray | None = None) -> pd.DataFrame:
    pool = np.arange(len(ds.stream)) if rows is None else rows
    return ds.stream.iloc[rng.choice(pool, n, replace=False)].reset_index(drop=True)


def healthy(ds: RealDataset, n: int, rng: np.random.Generator) -> pd.DataFrame:
    return _draw(ds, n, rng)


def _pick(ds: RealDataset, share: float, rng: np.random.Generator) -> list[str]:
    k = max(1, int(round(share * len(ds.numeric))))
    return list(rng.choice(ds.numeric, k, replace=False))


def _ref_std(ds: RealDataset, col: str) -> float:
    return float(ds.reference[col].std()) or 1.0


def noise(std: float, share: float) -> Shift:
    def shift(ds: RealDataset, n: int, rng: np.random.Generator) -> pd.DataFrame:
        b = _draw(ds, n, rng)
        for col in _pick(ds, share, rng):
            b[col] = b[col].astype(np.float64) + rng.normal(0.0, std * _ref_std(ds, col), n)
        return b
    return shift


def mean_shift(k: float) -> Shift:
    def shift(ds: RealDataset, n: int, rng: np.random.Generator) -> pd.DataFrame:
        b = _draw(ds, n, rng)
        col = _pick(ds, 0.0, rng)[0]
        b[col] = b[col].astype(np.float64) + k * _ref_std(ds, col)
        return b
    return shift


def scale(k: float) -> Shift:
    """10% of the numeric features (at least one) multiplied by k."""
    def shift(ds: RealDataset, n: int, rng: np.random.Generator) -> pd.DataFrame:
        b = _draw(ds, n, rng)
        for col in _pick(ds, 0.1, rng):
            b[col] = b[col].astype(np.float64) * k
        return b
    return shift


def missing(share: float) -> Shift:
    def shift(ds: RealDataset, n: int, rng: np.random.Generator) -> pd.DataFrame:
        b = _draw(ds, n, rng)
        col = _pick(ds, 0.0, rng)[0]
        b[col] = b[col].astype(np.float64)
        b.loc[rng.choice(n, int(round(share * n)), replace=False), col] = np.nan
        return b
    return shift


def rarest_class(ds: RealDataset) -> tuple[object, int]:
    """The stream's rarest class (the one the class-prior shift removes) and its rows."""
    values, counts = np.unique(ds.stream_classes, return_counts=True)
    i = int(np.argmin(counts))
    return values[i], int(counts[i])


def gaining_category(ds: RealDataset) -> tuple[object, float]:
    """The category of the low-cardinality column whose stream share is nearest 30% (the one the category shift
    raises), and that share."""
    shares = ds.stream[ds.category_column].value_counts(normalize=True)
    target = shares.index[np.argmin(np.abs(shares.to_numpy() - 0.3))]
    return target, float(shares[target])


def class_prior(removed: float) -> Shift:
    """``removed`` of the rows of one class (the rarest) taken out of the stream before the batch is drawn."""
    def shift(ds: RealDataset, n: int, rng: np.random.Generator) -> pd.DataFrame:
        members = np.flatnonzero(ds.stream_classes == rarest_class(ds)[0])
        dropped = rng.choice(members, int(round(removed * members.size)), replace=False)
        keep = np.setdiff1d(np.arange(len(ds.stream)), dropped)
        return _draw(ds, n, rng, keep)

    def ceiling(ds: RealDataset, n: int, alpha: float) -> float:
        from scipy import stats

        p0 = rarest_class(ds)[1] / len(ds.stream_classes)
        p1 = p0 * (1 - removed) / (1 - p0 * removed)
        k = int(stats.binom.ppf(alpha, n, p0))
        while k >= 0 and stats.binom.cdf(k, n, p0) > alpha:
            k -= 1
        return float(stats.binom.cdf(k, n, p1)) if k >= 0 else 0.0
    shift.ceiling = ceiling
    return shift


def category_gain(points: float) -> Shift:
    """The category of the low-cardinality column whose stream share is nearest 30% gains ``points`` of the batch
    (its rows are drawn at share + points, the others fill the rest)."""
    def shift(ds: RealDataset, n: int, rng: np.random.Generator) -> pd.DataFrame:
        target, share = gaining_category(ds)
        col = ds.stream[ds.category_column].to_numpy()
        inside = np.flatnonzero(col == target)
        outside = np.flatnonzero(col != target)
        k = int(round(min(share + points, 1.0) * n))
        parts = [ds.stream.iloc[rng.choice(inside, k, replace=False)],
                 ds.stream.iloc[rng.choice(outside, n - k, replace=False)]]
        return pd.concat(parts).sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)

    def ceiling(ds: RealDataset, n: int, alpha: float) -> float:
        from scipy import stats

        p0 = gaining_category(ds)[1]
        k = int(stats.binom.isf(alpha, n, p0))
        while stats.binom.sf(k, n, p0) > alpha:
            k += 1
        return float(stats.binom.sf(k, n, min(p0 + points, 1.0)))
    shift.ceiling = ceiling
    return shift


def shift_grid() -> dict[str, tuple[str, Shift]]:
    """name -> (family, shift). Families group the rows of the printed table."""
    grid: dict[str, tuple[str, Shift]] = {}
    for std in (0.1, 0.5, 1.0):
        for share in (0.1, 0.5, 1.0):
            grid[f"noise {std:g} std on {share:.0%} of features"] = ("gaussian noise", noise(std, share))
    for k in (0.25, 0.5, 1.0):
        grid[f"one feature +{k:g} std"] = ("mean shift", mean_shift(k))
    for k in (1.1, 1.5, 2.0):
        grid[f"10% of features x{k:g}"] = ("scaling", scale(k))
    for share in (0.1, 0.3):
        grid[f"{share:.0%} of one feature missing"] = ("missing values", missing(share))
    for removed in (0.5, 0.9):
        grid[f"{removed:.0%} of one class removed"] = ("class prior", class_prior(removed))
    for points in (0.1, 0.2):
        grid[f"one category +{points * 100:.0f} points"] = ("category", category_gain(points))
    return grid


def applies(name: str, ds: RealDataset, n: int) -> bool:
    """Whether a shift can be drawn from this dataset at this size."""
    if name.startswith("one category"):
        if ds.category_column is None:
            return False
        target, share = gaining_category(ds)
        return (share + 0.2) * n <= (ds.stream[ds.category_column] == target).sum()
    if name.endswith("class removed"):
        return len(ds.stream) - 0.9 * rarest_class(ds)[1] >= 2 * n
    return True


def ceiling(shift: Shift, ds: RealDataset, n: int, alpha: float = 0.005) -> float | None:
    """The detection rate of an oracle for this shift at this size, or None where there is none (only the
    class-prior and category shifts have one): the share of batches in which an exact one-sided binomial test at
    ``alpha`` (the drift budget of a batch) rejects, when it is told which class or category moved and in which
    direction and sees every row's class (the labels, which a monitor does not have) with the stream's true
    shares. No monitor can beat it at that false-alarm level, so a goal above it asks for the impossible."""
    oracle = getattr(shift, "ceiling", None)
    return oracle(ds, n, alpha) if oracle is not None else None


@dataclass
class Outcome:
    status_alarm: bool  # any non-OK status (what pages someone)
    drift_alarm: bool  # the drift verdict alone is not OK


def check(ds: RealDataset, batch: pd.DataFrame, path: Path, settings: Settings) -> Outcome:
    write_csv(ds.model.outputs(batch) if ds.model else batch, path)
    res: BatchResult = analyse_file(path, ds.baseline, settings)
    return Outcome(res.status != Status.OK, res.drift is not None and res.drift.status != Status.OK)
