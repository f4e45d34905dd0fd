"""Reading sensitive data: open a source lazily, bound contributions, apply row-wise steps.

This module and its siblings in ``engine`` are the only code that touches sensitive values.
Nothing here returns a row to a caller outside the engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from jupyter_privacy.core.errors import PolicyError
from jupyter_privacy.core.expr import BINARY, Expr, Scalar
from jupyter_privacy.core.plan import Step
from jupyter_privacy.core.schema import ColumnInfo, Kind, fill_value, infer
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


def _pandas_kind(dtype: Any) -> Kind:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "str"
    return "other"


def _stored_kinds(data: Any) -> dict[str, Kind]:
    """The stored kind of each column, from metadata only (a pandas frame is not converted)."""
    if isinstance(data, pd.DataFrame):
        return {str(name): _pandas_kind(dtype) for name, dtype in data.dtypes.items()}
    return {name: _kind(dtype) for name, dtype in _scan(data).collect_schema().items()}


def pandas_snapshot(data: pd.DataFrame) -> pd.DataFrame:
    """A snapshot of a pandas frame (no data is copied until either side is edited: pandas'
    copy-on-write), in a form polars converts without fail: text, category and object
    columns become pandas strings (a mixed object column would otherwise fail the conversion
    on some values only); numbers, booleans and dates are kept as they are."""
    frame = data.copy(deep=False)  # copy-on-write (pandas 3): an edit of the original copies
    frame.columns = [str(c) for c in frame.columns]
    safe = (
        pd.api.types.is_bool_dtype,
        pd.api.types.is_numeric_dtype,
        pd.api.types.is_datetime64_any_dtype,
    )
    text = [
        c
        for c in frame.columns
        if not any(check(frame[c].dtype) for check in safe)
        and not isinstance(frame[c].dtype, pd.StringDtype)
    ]
    if text and len(frame) * len(text) >= 2_000_000:  # seconds, not milliseconds: say so
        print(
            f"jupyter-privacy: copying {len(text)} text column(s) of a large frame as strings "
            "(a second or two per column; pandas' 'string' dtype would skip this)",
            file=sys.stderr,
            flush=True,
        )
    return frame.astype({c: "string" for c in text}) if text else frame


def column_kinds(
    data: Any, dtypes: Mapping[str, Kind], implied: Mapping[str, Kind]
) -> dict[str, Kind]:
    """Column names and public kinds. A CSV's header is public, its cells are not: a column is
    of its declared kind (``dtypes``), else of the kind its bounds or keys imply, else text.
    Parquet metadata and frame dtypes are public; ``dtypes`` overrides them (never for columns
    of another type, such as dates, which have no safe conversion)."""
    stored = _stored_kinds(data)
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


def version_key(data: Any) -> tuple[Any, ...]:
    """Identity of a data version: a file's path, size and mtime, or the snapshot object
    (snapshots never change: ``engine.normalise_source``)."""
    if isinstance(data, Path):
        return ("file", data, *file_stamp(data))
    return ("object", id(data))


def fingerprint(data: Any) -> str:
    """A content fingerprint: a new version of the data gets a new release cache. Computed once
    per version (usually in the background right after registration, see ``warm``)."""
    return CACHE.fingerprint(data)


def _fingerprint(data: Any) -> str:
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


def declared_fills(spec: SourceSpec) -> dict[str, Scalar]:
    """What each ``not_null`` column's nulls are read as. An automatic-bounds column is filled
    as registered (bounds unknown), so its rows do not change once its bounds are released."""
    return {
        c: fill_value(replace(i, bounds=None) if c in spec.auto_bounds else i)
        for c, i in spec.schema.items()
        if not i.nullable
    }


def _fill_declared(lf: pl.LazyFrame, spec: SourceSpec) -> pl.LazyFrame:
    """Nulls of ``not_null`` columns as their public fill value (after NaN became null)."""
    fills = declared_fills(spec)
    if not fills:
        return lf
    return lf.with_columns([pl.col(c).fill_null(v) for c, v in fills.items()])


def _bound(lf: pl.LazyFrame, unit: str, k: int) -> pl.LazyFrame:
    """At most ``k`` rows per privacy unit, the first ones in the source's order, by hashing the
    unit once (a window over every unit costs several times more on millions of units)."""
    lf = lf.filter(pl.col(unit).is_not_null())
    if k == 1:
        return lf.filter(pl.col(unit).is_first_distinct())
    columns = lf.collect_schema().names()
    return lf.group_by(unit).head(k).select(columns)


def _read_rows(spec: SourceSpec) -> pl.LazyFrame:
    """Source rows in their public kinds, NaN as null, ``not_null`` columns filled."""
    return _fill_declared(_clean_floats(open_lazy(spec.data, dict(spec.schema))), spec)


def _bounded_rows(spec: SourceSpec) -> pl.LazyFrame:
    """Source rows in their public kinds, NaN as null, and at most ``max_rows_per_unit`` rows
    per privacy unit (lazily: for sources too large to keep in memory)."""
    lf = _read_rows(spec)
    if spec.privacy_unit is None:
        return lf
    return _bound(lf, spec.privacy_unit, spec.max_rows_per_unit)


def bounded_frame(spec: SourceSpec) -> pl.DataFrame:
    """``_bounded_rows``, collected. When every unit has one row (a unique id: the common case)
    nothing needs dropping, and one count of distinct units says so faster than bounding."""
    frame = _read_rows(spec).collect()
    unit = spec.privacy_unit
    if unit is None:
        return frame
    ids = frame.get_column(unit)
    if ids.null_count() == 0 and ids.n_unique() == frame.height:
        return frame
    return _bound(frame.lazy(), unit, spec.max_rows_per_unit).collect()


def cache_limit_bytes() -> int:
    """Memory the base-row cache may hold (``JUPYTER_PRIVACY_CACHE_MB``, default 2048; 0 = off)."""
    try:
        mb = float(os.environ.get("JUPYTER_PRIVACY_CACHE_MB", "2048"))
    except ValueError:
        mb = 2048.0
    return max(int(mb * 2**20), 0)


_WARM: tuple[int, ThreadPoolExecutor] | None = None


def _warm_pool() -> ThreadPoolExecutor:
    """Two background workers, so a source's fingerprint and bounded rows are computed side by
    side (rebuilt after a fork, whose child inherits no threads)."""
    global _WARM
    if _WARM is None or _WARM[0] != os.getpid():
        _WARM = (os.getpid(), ThreadPoolExecutor(2, thread_name_prefix="jp-warm"))
    return _WARM[1]


class _SourceCache:
    """The bounded rows and the fingerprint of recently used sources, kept between releases.

    A release otherwise re-reads (a file) or re-converts (a pandas frame) the data and bounds
    contributions again, which dominates the cost of a simple aggregate on large data. Entries
    are keyed by data version: a file's path, size and mtime (a rewritten file is read afresh),
    or a registered snapshot. Least recently used entries go first when the total passes
    ``cache_limit_bytes``; data that would not fit is streamed instead. ``warm`` fills an entry
    in the background right after registration, so the first release finds it ready.
    """

    def __init__(self) -> None:
        self._rows: OrderedDict[tuple[Any, ...], pl.DataFrame] = OrderedDict()
        self._owners: dict[tuple[Any, ...], Any] = {}  # keeps each keyed snapshot's id valid
        self._fingerprints: dict[tuple[Any, ...], tuple[weakref.ref[Any] | None, str]] = {}
        self._pending: dict[tuple[Any, ...], Future[None]] = {}  # bounded rows being computed
        self._pending_versions: dict[tuple[Any, ...], Future[None]] = {}  # fingerprints
        self._lock = threading.Lock()

    def _key(self, spec: SourceSpec) -> tuple[Any, ...] | None:
        """(where, which version, how bounded), or None for data not to keep in memory."""
        limit = cache_limit_bytes()
        data = spec.data
        if limit == 0:
            return None
        kinds = tuple(sorted((c, i.kind) for c, i in spec.schema.items()))
        fills = tuple(sorted(declared_fills(spec).items()))
        bounding = (spec.privacy_unit, spec.max_rows_per_unit, kinds, fills)
        if isinstance(data, Path):
            size, mtime = file_stamp(data)
            if size * 4 > limit:  # a compressed file can grow several-fold in memory
                return None
            return ("file", data, size, mtime, *bounding)
        if isinstance(data, pl.DataFrame):
            size = int(data.estimated_size())
        else:
            size = int(data.memory_usage(deep=False).sum())
        if size > limit:
            return None
        return ("frame", spec.name, id(data), *bounding)

    def warm(self, spec: SourceSpec) -> None:
        """Start computing the source's bounded rows and fingerprint in the background."""
        key = self._key(spec)
        with self._lock:
            if key is None or key in self._rows or key in self._pending:
                return
            self._pending[key] = _warm_pool().submit(self._fill, spec, key)
            version = version_key(spec.data)
            if version not in self._fingerprints and version not in self._pending_versions:
                self._pending_versions[version] = _warm_pool().submit(self._fingerprint_of, spec)

    def _wait(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None:  # a failed warm-up is computed again by the caller
            with contextlib.suppress(Exception):
                pending.result()

    def _fill(self, spec: SourceSpec, key: tuple[Any, ...]) -> None:
        try:
            self._store(spec, key, bounded_frame(spec))
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def _fingerprint_of(self, spec: SourceSpec) -> None:
        try:
            self.fingerprint(spec.data, wait=False)
        finally:
            with self._lock:
                self._pending_versions.pop(version_key(spec.data), None)

    def _store(self, spec: SourceSpec, key: tuple[Any, ...], frame: pl.DataFrame) -> None:
        limit = cache_limit_bytes()
        with self._lock:
            same_source = [k for k in self._rows if k[:2] == key[:2] and k != key]
            for k in same_source:  # an older version of the same file, or a replaced snapshot
                self._drop(k)
            if frame.estimated_size() > limit:
                return
            self._rows[key] = frame
            self._owners[key] = spec.data
            total = sum(f.estimated_size() for f in self._rows.values())
            while total > limit and self._rows:
                oldest = next(iter(self._rows))
                total -= self._rows[oldest].estimated_size()
                self._drop(oldest)

    def _drop(self, key: tuple[Any, ...]) -> None:
        self._rows.pop(key, None)
        self._owners.pop(key, None)

    def rows(self, spec: SourceSpec) -> pl.LazyFrame:
        """The source's bounded rows, from memory when they fit."""
        key = self._key(spec)
        if key is None:
            return _bounded_rows(spec)
        self._wait(key)
        with self._lock:
            frame = self._rows.get(key)
            if frame is not None:
                self._rows.move_to_end(key)
                return frame.lazy()
        frame = bounded_frame(spec)
        self._store(spec, key, frame)
        return frame.lazy()

    def fingerprint(self, data: Any, wait: bool = True) -> str:
        version = version_key(data)
        if wait:
            with self._lock:
                pending = self._pending_versions.get(version)
            if pending is not None:
                with contextlib.suppress(Exception):
                    pending.result()
        with self._lock:
            known = self._fingerprints.get(version)
        # a snapshot's version is its id, which a later object may reuse once it is freed: the
        # cached fingerprint counts only while the very object it was computed for is alive
        if known is not None and (known[0] is None or known[0]() is data):
            return known[1]
        fp = _fingerprint(data)
        try:
            owner = None if isinstance(data, Path) else weakref.ref(data)
        except TypeError:
            return fp  # cannot tell this object from a later one with its id: not cached
        with self._lock:
            if len(self._fingerprints) > 256:
                self._fingerprints.clear()
            self._fingerprints[version] = (owner, fp)
        return fp

    def settle(self) -> None:
        """Wait for every background warm-up (bounded rows and fingerprints) to finish."""
        with self._lock:
            pending = [*self._pending.values(), *self._pending_versions.values()]
        for job in pending:
            with contextlib.suppress(Exception):
                job.result()

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._owners.clear()
            self._fingerprints.clear()


CACHE = _SourceCache()
ROW_CACHE = CACHE  # the name the tests and benchmarks know


def warm(spec: SourceSpec) -> None:
    CACHE.warm(spec)


def prepared_frame(spec: SourceSpec, steps: tuple[Step, ...]) -> pl.LazyFrame:
    """Source rows after contribution bounding and the plan's row-wise steps."""
    lf = CACHE.rows(spec)
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
