"""The only package that imports OpenDP and reads sensitive data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl

from jupyter_privacy.core.engine.data import (
    column_kinds,
    file_format,
    file_stamp,
    fingerprint,
    pandas_snapshot,
    warm,
)
from jupyter_privacy.core.errors import PolicyError

if TYPE_CHECKING:
    from jupyter_privacy.core.engine.statistics import Prepared
    from jupyter_privacy.core.loss import PrivacyLoss
    from jupyter_privacy.core.plan import Query
    from jupyter_privacy.core.source import SourceSpec

__all__ = [
    "Prepared",
    "column_kinds",
    "data_stamp",
    "epsilon_of_rho",
    "fingerprint",
    "is_scalar",
    "normalise_source",
    "prepare",
    "rho_of_epsilon",
    "warm",
]


# OpenDP is imported on the first query, not with the package: registering a source and loading
# the extension stay fast.


def prepare(
    spec: SourceSpec,
    query: Query,
    loss: PrivacyLoss,
    alpha: float,
    delta: float = 0.0,
    prefetch: bool = False,
) -> Prepared:
    """Calibrate ``query`` to ``loss`` (ε under a pure budget, ρ under zCDP) without reading
    data; ``Prepared.run`` releases it."""
    from jupyter_privacy.core.engine import statistics

    return statistics.prepare(spec, query, loss, alpha, delta, prefetch)


def is_scalar(query: Query) -> bool:
    from jupyter_privacy.core.engine import statistics

    return statistics.is_scalar(query)


def rho_of_epsilon(epsilon: float, delta: float) -> float:
    from jupyter_privacy.core.engine import accounting

    return accounting.rho_of_epsilon(epsilon, delta)


def epsilon_of_rho(rho: float, delta: float) -> float:
    from jupyter_privacy.core.engine import accounting

    return accounting.epsilon_of_rho(rho, delta)


def _label(path: Path) -> str | None:
    stem = re.sub(r"\W", "_", path.stem)
    return stem if stem.isidentifier() else None


def normalise_source(data: Any) -> tuple[Any, str, str | None]:
    """(handle the engine can open, origin, default name) for a path or a frame.

    A frame is snapshotted: a pandas frame is copied (its arrays; text cells are immutable), a
    polars frame cloned (its buffers are shared until either side writes, then copied), a polars
    LazyFrame collected, so later edits to the original (or to the files a lazy frame scans)
    cannot change a registered source, nor make a recorded release be replayed for other data.
    Register again to use them: a new data version.
    """
    if isinstance(data, str | Path):
        path = Path(data).expanduser().resolve()
        fmt = file_format(path)
        if fmt is None:
            raise PolicyError(
                "register",
                str(data),
                "only CSV and Parquet files can be registered",
                [("suffix", path.suffix or "(none)")],
                ["jp.register('data/patients.csv', ...)"],
            )
        try:  # a file this user may not read is refused here, not an OSError later
            is_file = path.is_file()
            if is_file:
                path.open("rb").close()
        except OSError as exc:
            raise PolicyError(
                "register",
                str(data),
                "the file cannot be read",
                [("path", str(path)), ("error", exc.strerror or type(exc).__name__)],
            ) from None
        if not is_file:
            raise PolicyError(
                "register", str(data), "the file does not exist", [("path", str(path))]
            )
        return path, fmt, _label(path)
    if isinstance(data, pd.DataFrame):
        if data.columns.duplicated().any():
            raise PolicyError(
                "register",
                "?",
                "the data must have uniquely named columns",
                [("columns", str(len(data.columns)))],
            )
        return pandas_snapshot(data), "pandas", None
    if isinstance(data, pl.DataFrame):
        return data.clone(), "polars", None
    if isinstance(data, pl.LazyFrame):
        # collected now, like any frame: a lazy frame re-reads what it scans on every query, so
        # a rewritten file would answer for data the replay cache does not know it holds
        try:
            return data.collect(), "polars", None
        except Exception as exc:  # polars' message can quote a cell: only its kind is shown
            raise PolicyError(
                "register",
                "?",
                "the lazy frame could not be collected",
                [("error", type(exc).__name__)],
                ["jp.register('data/patients.parquet', ...)  # a file is read when queried"],
            ) from None
    raise PolicyError(
        "register",
        "?",
        "a source must be a CSV or Parquet path or a data frame",
        [("given", type(data).__name__)],
        ["jp.register(df, name='patients', ...)"],
    )


def data_stamp(handle: Any) -> Any:
    """Cheap identity of a data version: file size and mtime, or the snapshot object."""
    if isinstance(handle, Path):
        return file_stamp(handle)
    return id(handle)
