"""Reading sensitive data: open a source lazily, bound contributions, apply row-wise steps.

This module and its siblings in ``engine`` are the only code that touches sensitive values.
Nothing here returns a row to a caller outside the engine.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from jupyter_privacy.core.expr import Expr
from jupyter_privacy.core.plan import Step
from jupyter_privacy.core.schema import Kind
from jupyter_privacy.core.source import SourceSpec

FILE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def file_format(path: Path) -> str | None:
    return FILE_SUFFIXES.get(path.suffix.lower())


def _kind(dtype: pl.DataType) -> Kind:
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "str"
    return "other"


def open_lazy(data: Any, numeric: tuple[str, ...] = ()) -> pl.LazyFrame:
    """A LazyFrame over the source; files are scanned, never loaded eagerly.

    CSV columns with declared bounds are read as floats, and cells that do not parse become
    nulls (dropped before any statistic) rather than errors that would depend on the data.
    """
    if isinstance(data, Path):
        if file_format(data) == "parquet":
            return pl.scan_parquet(data)
        return pl.scan_csv(
            data,
            schema_overrides={c: pl.Float64 for c in numeric},
            ignore_errors=True,
            infer_schema_length=1000,
            separator="\t" if data.suffix.lower() == ".tsv" else ",",
        )
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if isinstance(data, pd.DataFrame):
        return pl.from_pandas(data).lazy()
    raise TypeError(f"cannot open {type(data).__name__}")


def column_kinds(data: Any, numeric: tuple[str, ...] = ()) -> dict[str, Kind]:
    """Column names and kinds, from file metadata or frame dtypes (public by definition)."""
    if isinstance(data, pd.DataFrame):
        out: dict[str, Kind] = {}
        for name, dtype in data.dtypes.items():
            if pd.api.types.is_bool_dtype(dtype):
                out[str(name)] = "bool"
            elif pd.api.types.is_integer_dtype(dtype):
                out[str(name)] = "int"
            elif pd.api.types.is_float_dtype(dtype):
                out[str(name)] = "float"
            elif pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
                out[str(name)] = "str"
            else:
                out[str(name)] = "other"
        return out
    schema = open_lazy(data, numeric).collect_schema()
    return {name: _kind(dtype) for name, dtype in schema.items()}


def fingerprint(data: Any) -> str:
    """A content fingerprint: a new version of the data gets a new release cache."""
    h = hashlib.sha256()
    if isinstance(data, Path):
        h.update(b"file:")
        with open(data, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        return h.hexdigest()[:16]
    frame = open_lazy(data).collect()
    h.update(repr(frame.schema).encode())
    h.update(frame.hash_rows(seed=0, seed_1=1, seed_2=2, seed_3=3).to_numpy().tobytes())
    return h.hexdigest()[:16]


def file_stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)


# --- plan compilation -------------------------------------------------------------------------

_POLARS_BINARY: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a.cast(pl.Float64) / b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
}
_CAST = {"int": pl.Int64, "float": pl.Float64, "str": pl.String, "bool": pl.Boolean}


def compile_expr(expr: Expr) -> pl.Expr:
    """Translate a plan expression to polars; casts are non-strict (bad cells become null)."""
    op, a = expr.op, expr.args
    if op == "col":
        return pl.col(a[0])
    if op == "lit":
        return pl.lit(a[0])
    if op in _POLARS_BINARY:
        return _POLARS_BINARY[op](compile_expr(a[0]), compile_expr(a[1]))
    inner = compile_expr(a[0])
    if op == "neg":
        return -inner
    if op == "abs":
        return inner.abs()
    if op == "not":
        return ~inner
    if op == "isin":
        return inner.is_in(list(a[1]))
    if op == "isna":
        return inner.is_null()
    if op == "notna":
        return inner.is_not_null()
    if op == "clip":
        return inner.clip(a[1], a[2])
    if op == "fillna":
        return inner.fill_null(a[1])
    if op == "cast":
        if a[1] == "int":
            return inner.cast(pl.Float64, strict=False).floor().cast(pl.Int64, strict=False)
        return inner.cast(_CAST[a[1]], strict=False)
    # cut with public edges: label i for (edge[i], edge[i+1]]; outside the edges -> null
    edges, labels = a[1], a[2]
    value = inner.cast(pl.Float64, strict=False)
    out: pl.Expr = pl.lit(None, dtype=pl.String)
    for i in reversed(range(len(labels))):
        cond = (value > edges[i]) & (value <= edges[i + 1])
        if i == 0:
            cond = (value >= edges[0]) & (value <= edges[1])
        out = pl.when(cond).then(pl.lit(labels[i])).otherwise(out)
    return out


def _clean_floats(lf: pl.LazyFrame, only: tuple[str, ...] | None = None) -> pl.LazyFrame:
    """NaN becomes null so that nothing downstream can raise on it (a one-bit oracle)."""
    floats = [
        n for n, t in lf.collect_schema().items() if t.is_float() and (only is None or n in only)
    ]
    if not floats:
        return lf
    return lf.with_columns([pl.col(n).fill_nan(None) for n in floats])


def _bounded_rows(spec: SourceSpec) -> pl.LazyFrame:
    """Source rows with NaN as null and at most ``max_rows_per_unit`` rows per privacy unit."""
    numeric = tuple(c for c, info in spec.schema.items() if info.bounds is not None)
    lf = _clean_floats(open_lazy(spec.data, numeric))
    if spec.privacy_unit is not None:
        unit = pl.col(spec.privacy_unit)
        lf = lf.filter(unit.is_not_null()).filter(
            pl.int_range(pl.len()).over(spec.privacy_unit) < spec.max_rows_per_unit
        )
    return lf


def cache_limit_bytes() -> int:
    """Memory the base-row cache may hold (``JUPYTER_PRIVACY_CACHE_MB``, default 2048; 0 = off)."""
    try:
        mb = float(os.environ.get("JUPYTER_PRIVACY_CACHE_MB", "2048"))
    except ValueError:
        mb = 2048.0
    return max(int(mb * 2**20), 0)


class _RowCache:
    """The bounded rows of recently used file sources, kept in memory between releases.

    A release over a file otherwise re-reads and re-parses it every time, which dominates the
    cost of a simple aggregate on large files. Entries are keyed by the file's path, size and
    mtime, so a new version of the file is read afresh; least recently used entries go first
    when the total passes ``cache_limit_bytes``. Files that would not fit are streamed.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[Any, ...], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, spec: SourceSpec) -> pl.LazyFrame:
        limit = cache_limit_bytes()
        if not isinstance(spec.data, Path) or limit == 0:
            return _bounded_rows(spec)
        size, mtime = file_stamp(spec.data)
        if size * 4 > limit:  # a compressed file can grow several-fold in memory
            return _bounded_rows(spec)
        numeric = tuple(sorted(c for c, i in spec.schema.items() if i.bounds is not None))
        key = (spec.data, size, mtime, spec.privacy_unit, spec.max_rows_per_unit, numeric)
        with self._lock:
            frame = self._entries.get(key)
            if frame is not None:
                self._entries.move_to_end(key)
                return frame.lazy()
        frame = _bounded_rows(spec).collect()
        with self._lock:
            stale = [k for k in self._entries if k[0] == spec.data]
            for k in stale:  # older versions of the same file
                del self._entries[k]
            self._entries[key] = frame
            total = sum(f.estimated_size() for f in self._entries.values())
            while total > limit and self._entries:
                _, dropped = self._entries.popitem(last=False)
                total -= dropped.estimated_size()
        return frame.lazy()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


ROW_CACHE = _RowCache()


def prepared_frame(spec: SourceSpec, steps: tuple[Step, ...]) -> pl.LazyFrame:
    """Source rows after contribution bounding and the plan's row-wise steps."""
    lf = ROW_CACHE.get(spec)
    for step in steps:
        if step.kind == "filter" and step.expr is not None:
            lf = lf.filter(compile_expr(step.expr).fill_null(False))
        elif step.kind == "assign" and step.expr is not None and step.name is not None:
            lf = lf.with_columns(compile_expr(step.expr).alias(step.name))
            # a derived column can hold NaN (0/0); source columns were cleaned when read
            lf = _clean_floats(lf, (step.name,))
        else:
            lf = lf.select(list(step.columns))
    return lf
