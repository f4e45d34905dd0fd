"""Reading sensitive data: open a source lazily, bound contributions, apply row-wise steps.

This module and its siblings in ``engine`` are the only code that touches sensitive values.
Nothing here returns a row to a caller outside the engine.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.expr import BINARY, Expr, Scalar
from jupyter_privacy.core.plan import Step
from jupyter_privacy.core.schema import ColumnInfo, Kind, infer
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


def _scan(data: Any) -> pl.LazyFrame:
    """The source as stored: files scanned, never loaded eagerly. A CSV is read as text only
    (its kinds are the public ones, applied by ``open_lazy``), and ragged lines, bad quoting or
    bytes that are not UTF-8 never raise: what one person wrote cannot make a release fail."""
    if isinstance(data, Path):
        if file_format(data) == "parquet":
            return pl.scan_parquet(data)
        return pl.scan_csv(
            data,
            infer_schema=False,
            ignore_errors=True,
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
            separator="\t" if data.suffix.lower() == ".tsv" else ",",
        )
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if isinstance(data, pd.DataFrame):
        return pl.from_pandas(data).lazy()
    raise TypeError(f"cannot open {type(data).__name__}")


_POLARS_KIND: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "str": pl.String(),
    "bool": pl.Boolean(),
}
_TRUTH = {"true": True, "false": False, "1": True, "0": False}


def as_kind(expr: pl.Expr, stored: Kind, kind: Kind) -> pl.Expr:
    """A stored column read as its public kind; every conversion is non-strict (a cell that does
    not convert becomes null) so that no value can make it fail."""
    if kind not in _POLARS_KIND:
        return expr
    if kind == "bool":
        if stored == "str":
            return (
                expr.str.strip_chars()
                .str.to_lowercase()
                .replace_strict(_TRUTH, default=None, return_dtype=pl.Boolean)
            )
        return expr.cast(pl.Boolean, strict=False)
    if kind == "int" and stored == "float":
        return expr.cast(pl.Float64, strict=False).floor().cast(pl.Int64, strict=False)
    out = expr.cast(_POLARS_KIND[kind], strict=False)
    return out.fill_nan(None) if kind == "float" else out


def open_lazy(data: Any, kinds: dict[str, ColumnInfo] | None = None) -> pl.LazyFrame:
    """The source with every column in its public kind (``kinds``: the registered schema)."""
    lf = _scan(data)
    if not kinds:
        return lf
    stored = lf.collect_schema()
    casts = [  # every column in its kind's one dtype (Int32, Categorical, Decimal… too)
        as_kind(pl.col(name), _kind(dtype), kinds[name].kind).alias(name)
        for name, dtype in stored.items()
        if name in kinds
        and kinds[name].kind in _POLARS_KIND
        and dtype != _POLARS_KIND[kinds[name].kind]
    ]
    return lf.with_columns(casts) if casts else lf


def column_kinds(
    data: Any, dtypes: Mapping[str, Kind], implied: Mapping[str, Kind]
) -> dict[str, Kind]:
    """Column names and public kinds. A CSV's header is public, its cells are not: a column is
    of its declared kind (``dtypes``), else of the kind its bounds or keys imply, else text.
    Parquet metadata and frame dtypes are public; ``dtypes`` overrides them (never for columns
    of another type, such as dates, which have no safe conversion)."""
    stored = {name: _kind(dtype) for name, dtype in _scan(data).collect_schema().items()}
    if isinstance(data, Path) and file_format(data) == "csv":
        return {name: dtypes.get(name) or implied.get(name) or "str" for name in stored}
    out: dict[str, Kind] = {}
    for name, kind in stored.items():
        wanted = dtypes.get(name, kind)
        if wanted != kind and kind == "other":
            raise PolicyError(
                "register",
                "?",
                f"column '{name}' has a type that cannot be read as {wanted}",
                [("column", name)],
            )
        out[name] = wanted
    return out


def fingerprint(data: Any) -> str:
    """A content fingerprint: a new version of the data gets a new release cache."""
    h = hashlib.sha256()
    if isinstance(data, Path):
        h.update(b"file:")
        with open(data, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        return h.hexdigest()[:16]
    frame = _scan(data).collect()
    h.update(repr(frame.schema).encode())
    h.update(frame.hash_rows(seed=0, seed_1=1, seed_2=2, seed_3=3).to_numpy().tobytes())
    return h.hexdigest()[:16]


def file_stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)


# --- plan compilation -------------------------------------------------------------------------
#
# Every expression that passed ``schema.infer`` compiles to a total polars expression: casts are
# non-strict, arithmetic runs in float64 and gives null where the result is not finite (overflow,
# division by zero), bins are looked up with ``null_on_oob``, and each operator only ever sees the
# kinds it was typed for. Nothing here can raise because of a value.

_COMPARE: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
}


def _finite(value: pl.Expr) -> pl.Expr:
    return pl.when(value.is_finite()).then(value)


def _literal(value: Scalar) -> pl.Expr:
    if value is None:
        return pl.lit(None)
    if isinstance(value, bool):
        return pl.lit(value, dtype=pl.Boolean)
    if isinstance(value, int):
        return pl.lit(value, dtype=pl.Int64)
    if isinstance(value, float):
        return pl.lit(value, dtype=pl.Float64)
    return pl.lit(value, dtype=pl.String)


def _values(values: tuple[Scalar, ...], kind: Kind) -> pl.Series:
    if kind == "int" and all(isinstance(v, int) for v in values):
        return pl.Series(values, dtype=pl.Int64)
    if kind in ("int", "float"):
        return pl.Series([float(v) for v in values], dtype=pl.Float64)  # type: ignore[arg-type]
    return pl.Series(values, dtype=_POLARS_KIND[kind])


def bin_of(value: pl.Expr, edges: tuple[float, ...], closed: str) -> pl.Expr:
    """The bin index of each value (Int64), null outside the edges or for null.

    ``closed="right"``: bins ``(e_i, e_i+1]``, the first also closed on the left (``cut``);
    ``closed="left"``: bins ``[e_i, e_i+1)``, the last also closed on the right (``hist``)."""
    v = value.cast(pl.Float64)
    grid = pl.lit(pl.Series(edges, dtype=pl.Float64))
    n = len(edges) - 1
    if closed == "right":
        idx = grid.search_sorted(v, side="left").cast(pl.Int64) - 1
        idx = pl.when(v == edges[0]).then(0).otherwise(idx)
    else:
        idx = grid.search_sorted(v, side="right").cast(pl.Int64) - 1
        idx = pl.when(v == edges[-1]).then(n - 1).otherwise(idx)
    return pl.when(v.is_not_null() & (idx >= 0) & (idx < n)).then(idx)


def label_of(index: pl.Expr, labels: tuple[str, ...]) -> pl.Expr:
    return pl.lit(pl.Series([list(labels)], dtype=pl.List(pl.String))).list.get(
        index, null_on_oob=True
    )


def compile_expr(expr: Expr, schema: Mapping[str, ColumnInfo]) -> pl.Expr:
    """Translate a typed plan expression (see ``schema.infer``) to a total polars expression.

    A subtree that reads no column is evaluated once, here, into a literal: polars' common
    subexpression elimination mishandles constant ``when`` branches (a 0-length column that
    fails the whole query, whatever the data)."""
    op, a = expr.op, expr.args
    if op == "col":
        return pl.col(a[0])
    if op == "lit":
        return _literal(a[0])
    compiled = _compile(expr, schema)
    if expr.columns():
        return compiled
    folded = pl.select(compiled.alias("v")).get_column("v")
    return pl.lit(folded[0], dtype=folded.dtype)


def _compile(expr: Expr, schema: Mapping[str, ColumnInfo]) -> pl.Expr:
    op, a = expr.op, expr.args
    if op in BINARY:
        left = compile_expr(a[0], schema).cast(pl.Float64)
        right = compile_expr(a[1], schema).cast(pl.Float64)
        if op == "add":
            return _finite(left + right)
        if op == "sub":
            return _finite(left - right)
        if op == "mul":
            return _finite(left * right)
        return _finite(pl.when(right != 0).then(left / right))
    if op in _COMPARE:
        return _COMPARE[op](compile_expr(a[0], schema), compile_expr(a[1], schema))
    inner = compile_expr(a[0], schema)
    if op == "neg":
        return -inner
    if op == "abs":
        return inner.abs()
    if op == "not":
        return ~inner
    if op == "isna":
        return inner.is_null()
    if op == "notna":
        return inner.is_not_null()
    kind = infer(a[0], schema, "-").kind
    if op == "isin":
        values = _values(a[1], kind)
        source = inner.cast(pl.Float64) if values.dtype == pl.Float64 else inner
        return source.is_in(pl.lit(values).implode())
    out_kind = infer(expr, schema, "-").kind
    if op == "clip":
        if out_kind == "int":
            return inner.clip(a[1], a[2])
        return inner.cast(pl.Float64).clip(float(a[1]), float(a[2]))
    if op == "fillna":
        source = inner.cast(pl.Float64) if out_kind == "float" else inner
        fill = float(a[1]) if out_kind == "float" else a[1]
        return source.fill_null(_literal(fill))
    if op == "cast":
        return as_kind(inner, kind, out_kind)
    # cut with public edges: label i for (edge[i], edge[i+1]]; outside the edges -> null
    return label_of(bin_of(inner, tuple(float(e) for e in a[1]), "right"), tuple(a[2]))


def _clean_floats(lf: pl.LazyFrame, only: tuple[str, ...] | None = None) -> pl.LazyFrame:
    """NaN becomes null so that nothing downstream can raise on it (a one-bit oracle)."""
    floats = [
        n for n, t in lf.collect_schema().items() if t.is_float() and (only is None or n in only)
    ]
    if not floats:
        return lf
    return lf.with_columns([pl.col(n).fill_nan(None) for n in floats])


def _bounded_rows(spec: SourceSpec) -> pl.LazyFrame:
    """Source rows in their public kinds, NaN as null, and at most ``max_rows_per_unit`` rows
    per privacy unit."""
    lf = _clean_floats(open_lazy(spec.data, dict(spec.schema)))
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
        kinds = tuple(sorted((c, i.kind) for c, i in spec.schema.items()))
        key = (spec.data, size, mtime, spec.privacy_unit, spec.max_rows_per_unit, kinds)
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
    schema = dict(spec.schema)
    for step in steps:
        if step.kind == "filter" and step.expr is not None:
            lf = lf.filter(compile_expr(step.expr, schema).fill_null(False))
        elif step.kind == "assign" and step.expr is not None and step.name is not None:
            lf = lf.with_columns(compile_expr(step.expr, schema).alias(step.name))
            # a derived column can hold NaN (a text cast to float); sources were cleaned on read
            lf = _clean_floats(lf, (step.name,))
            schema[step.name] = infer(step.expr, schema, spec.name)
        else:
            lf = lf.select(list(step.columns))
            schema = {c: schema[c] for c in step.columns}
    return lf
