"""UCI Adult (Census Income, Becker & Kohavi 1996, CC BY 4.0): income prediction from census records.

``adult.data`` is the training split and ``adult.test`` the test split: comma-and-space
separated, no header, ``?`` where a value is missing, and test labels ending in a ``.``.
Each row gets two labels: ``income_over_50k`` (the task) and ``never_married`` (a second task
for multi-task models; it is a function of ``marital_status``, so it must never be a feature of
a model that predicts it). The raw income string is dropped, as it is the label itself.
"""
from __future__ import annotations

import os
import pathlib

import numpy as np
import pandas as pd

from zoo.data._files import write_frames
from zoo.data._download import LocalLayout, download_file

ADULT_BASE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"
SPLIT_FILES = {"train": "adult.data", "test": "adult.test"}
ADULT_URLS = {name: ADULT_BASE_URL + name for name in SPLIT_FILES.values()}  # what locate() downloads

#: The raw columns, as UCI's adult.names lists them.
RAW_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
)  # fmt: skip
NUMERIC = ("age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week")
LABEL, SECOND_LABEL = "income_over_50k", "never_married"
#: Output columns, in the order written to CSV: the features in UCI's order, then the labels.
COLUMNS = tuple(c.replace("-", "_") for c in RAW_COLUMNS[:-1]) + (LABEL, SECOND_LABEL)
#: Their pandas dtypes; missing categorical values are NaN, and no numeric value is ever missing.
DTYPES = {c: "int64" if c in NUMERIC or c in (LABEL, SECOND_LABEL) else "object" for c in COLUMNS}

_INCOME = {"<=50K": 0, ">50K": 1}
_NEVER_MARRIED = "Never-married"
_LAYOUT = LocalLayout("UCI Adult", tuple(SPLIT_FILES.values()), "ZOO_ADULT_DIR", "uci-adult")


def locate(
    source: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str = ADULT_BASE_URL,
    timeout: float = 20,
) -> pathlib.Path:
    """Return a directory holding ``adult.data`` and ``adult.test``.

    Looks, in order, at ``source``, ``$ZOO_ADULT_DIR``, the cache, and finally downloads both
    files from ``base_url`` (a mirror of ``ADULT_URLS``' folder) into the cache; raises
    ``DatasetUnavailable`` naming every place it tried (see ``zoo.data._download.LocalLayout``).
    """
    return _LAYOUT.locate(
        source,
        cache_dir=cache_dir,
        download=download,
        fetch=lambda directory: _fetch(base_url, directory, timeout),
        origin=base_url,
    )


def _fetch(base_url: str, directory: pathlib.Path, timeout: float) -> None:
    for name in SPLIT_FILES.values():
        download_file(f"{base_url.rstrip('/')}/{name}", directory / name, timeout)
        _check_first_row(directory / name)


def _check_first_row(path: pathlib.Path) -> None:
    """Reject a download that is not Adult (an HTML error page, a different file) before it is cached."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = next((line for line in handle if line.strip() and not line.startswith("|")), "")
    fields = [f.strip() for f in first.split(",")]
    if len(fields) != len(RAW_COLUMNS) or fields[-1].rstrip(".") not in _INCOME:
        raise ValueError(f"{path.name} does not look like UCI Adult: first row {first[:80]!r}")


def load(source_dir: str | os.PathLike, split: str = "train") -> pd.DataFrame:
    """The ``split`` ("train" or "test") as a frame with ``COLUMNS`` and ``DTYPES``, in file order."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    raw = pd.read_csv(
        pathlib.Path(source_dir) / SPLIT_FILES[split],
        header=None,
        names=list(RAW_COLUMNS),
        skipinitialspace=True,  # values are separated by ", "
        na_values=["?"],
        keep_default_na=False,
        comment="|",  # adult.test may open with "|1x3 Cross validator"; no value contains a "|"
        dtype={c: str for c in RAW_COLUMNS},
    )
    income = raw.pop("income").str.rstrip(".")  # test labels end with "."
    unknown = sorted(set(income) - set(_INCOME))
    if unknown:
        raise ValueError(f"unknown income labels in {SPLIT_FILES[split]}: {unknown}")
    frame = raw.rename(columns=lambda c: c.replace("-", "_"))
    frame[LABEL] = income.map(_INCOME)
    return _with_second_label(frame)


def _with_second_label(frame: pd.DataFrame) -> pd.DataFrame:
    frame[SECOND_LABEL] = (frame["marital_status"] == _NEVER_MARRIED).astype(np.int64)
    return frame.astype(DTYPES)[list(COLUMNS)]


def write_csv(frame: pd.DataFrame, out_dir: str | os.PathLike) -> pathlib.Path:
    """Write ``out_dir/data.csv`` in ``COLUMNS`` order; missing values become empty cells."""
    return write_frames([frame], COLUMNS, out_dir)


# --- a synthetic twin ----------------------------------------------------------------------

# Category frequencies of the real training split, rounded.
_WORKCLASS = {
    "Private": 0.739, "Self-emp-not-inc": 0.083, "Local-gov": 0.068, "State-gov": 0.042, "Self-emp-inc": 0.036,
    "Federal-gov": 0.031, "Without-pay": 0.0005, "Never-worked": 0.0005,
}  # fmt: skip
_EDUCATION = {  # in education_num order, 1..16
    "Preschool": 0.002, "1st-4th": 0.005, "5th-6th": 0.010, "7th-8th": 0.020, "9th": 0.016, "10th": 0.029,
    "11th": 0.036, "12th": 0.013, "HS-grad": 0.322, "Some-college": 0.224, "Assoc-voc": 0.042,
    "Assoc-acdm": 0.033, "Bachelors": 0.165, "Masters": 0.053, "Prof-school": 0.018, "Doctorate": 0.013,
}  # fmt: skip
_EVER_MARRIED = {  # given not never-married
    "Married-civ-spouse": 0.685, "Divorced": 0.203, "Separated": 0.047, "Widowed": 0.045,
    "Married-spouse-absent": 0.019, "Married-AF-spouse": 0.001,
}  # fmt: skip
_OCCUPATION = {  # frequency, and effect on the log-odds of a high income
    "Prof-specialty": (0.135, 0.6), "Craft-repair": (0.133, 0.0), "Exec-managerial": (0.132, 0.8),
    "Adm-clerical": (0.123, -0.1), "Sales": (0.119, 0.3), "Other-service": (0.107, -1.2),
    "Machine-op-inspct": (0.065, -0.4), "Transport-moving": (0.052, -0.1), "Handlers-cleaners": (0.045, -0.8),
    "Farming-fishing": (0.032, -0.8), "Tech-support": (0.030, 0.4), "Protective-serv": (0.021, 0.3),
    "Priv-house-serv": (0.005, -2.0), "Armed-Forces": (0.001, 0.0),
}  # fmt: skip
_RACE = {"White": 0.854, "Black": 0.096, "Asian-Pac-Islander": 0.032, "Amer-Indian-Eskimo": 0.010, "Other": 0.008}
_COUNTRY = {
    "United-States": 0.912, "Mexico": 0.020, "Philippines": 0.006, "Germany": 0.004, "Canada": 0.004,
    "Puerto-Rico": 0.004, "El-Salvador": 0.003, "India": 0.003, "Cuba": 0.003, "England": 0.003,
}  # fmt: skip
_MISSING_WORKCLASS, _MISSING_COUNTRY = 0.056, 0.018  # the real rates of "?"
_INTERCEPT = -12.0  # puts the high-income share near the real 24%


def synthetic(num_rows: int, seed: int = 0) -> pd.DataFrame:
    """An Adult-like frame (same ``COLUMNS`` and ``DTYPES``) with a known, learnable income model.

    Marginals follow the real training split; the structure that matters is kept: education
    and education_num agree, young people are mostly never married, relationship follows
    marital status and sex, occupation is missing exactly when workclass is. A high income is
    Bernoulli(sigmoid(education, age, marriage, hours, occupation, sex and capital gains)).
    """
    if num_rows < 0:
        raise ValueError(f"num_rows must be >= 0, got {num_rows}")
    rng = np.random.default_rng(seed)
    n = num_rows

    def pick(frequencies: dict[str, float]) -> np.ndarray:
        names = np.array(list(frequencies), dtype=object)
        weights = np.array(list(frequencies.values()))
        return names[rng.choice(len(names), size=n, p=weights / weights.sum())]

    age = np.clip(17 + np.rint(rng.gamma(3.0, 7.2, n)), 17, 90).astype(np.int64)
    education = pick(_EDUCATION)
    education_num = pd.Index(list(_EDUCATION)).get_indexer(education) + 1
    never = rng.random(n) < 0.95 / (1.0 + np.exp((age - 30) / 4.0)) + 0.06
    marital = np.where(never, _NEVER_MARRIED, pick(_EVER_MARRIED))
    married = np.isin(marital, ("Married-civ-spouse", "Married-AF-spouse"))
    male = rng.random(n) < np.where(married, 0.89, 0.48)  # the census's "Husband" outnumbers "Wife" 8 to 1
    own_child = never & (rng.random(n) < np.where(age < 25, 0.8, 0.2))
    other = pick({"Not-in-family": 0.6, "Unmarried": 0.3, "Other-relative": 0.1})
    relationship = np.where(married, np.where(male, "Husband", "Wife"), np.where(own_child, "Own-child", other))

    workclass = pick(_WORKCLASS)
    occupation = pick({name: frequency for name, (frequency, _) in _OCCUPATION.items()})
    no_job = rng.random(n) < _MISSING_WORKCLASS
    workclass[no_job] = np.nan
    occupation[no_job | (workclass == "Never-worked")] = np.nan
    country = pick(_COUNTRY)
    country[rng.random(n) < _MISSING_COUNTRY] = np.nan

    hours = np.where(rng.random(n) < 0.47, 40, np.clip(np.rint(rng.normal(41, 13, n)), 1, 99)).astype(np.int64)
    gain = np.where(rng.random(n) < 0.06, 99_999, np.minimum(np.rint(rng.lognormal(8.5, 0.9, n)), 99_999))
    capital_gain = np.where(rng.random(n) < 0.083, gain, 0).astype(np.int64)  # 99,999 is the top code
    loss = np.rint(rng.normal(1870, 360, n)).clip(155, 4356)
    capital_loss = np.where(rng.random(n) < 0.047, loss, 0).astype(np.int64)
    fnlwgt = np.clip(np.rint(rng.lognormal(12.05, 0.5, n)), 12_285, 1_484_705).astype(np.int64)

    effects = {name: effect for name, (_, effect) in _OCCUPATION.items()}
    occupation_effect = pd.Series(occupation).map(effects).fillna(-0.5).to_numpy()  # no occupation: -0.5
    logit = (
        _INTERCEPT
        + 0.4 * education_num
        + 0.2 * age - 0.002 * age**2
        + 2.5 * married
        + 0.03 * (hours - 40)
        + occupation_effect
        + 0.3 * male
        + 3.0 * (capital_gain > 5000)
        + 1.0 * (capital_loss > 1500)
    )
    frame = pd.DataFrame(
        {
            "age": age,
            "workclass": workclass,
            "fnlwgt": fnlwgt,
            "education": education,
            "education_num": education_num,
            "marital_status": marital,
            "occupation": occupation,
            "relationship": relationship,
            "race": pick(_RACE),
            "sex": np.where(male, "Male", "Female"),
            "capital_gain": capital_gain,
            "capital_loss": capital_loss,
            "hours_per_week": hours,
            "native_country": country,
            LABEL: (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64),
        }
    )
    return _with_second_label(frame)
