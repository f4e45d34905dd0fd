"""Raw-access refusals: every way to reach rows is named, with the safe alternative."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from jupyter_privacy.core.aggregates import methods_of
from jupyter_privacy.core.errors import (
    InvalidArgumentError,
    RowAccessError,
    UnsupportedOperationError,
)

ROW_ACCESS = {
    **dict.fromkeys(["head", "tail", "sample", "nlargest", "nsmallest"], "{s}.describe()"),
    **dict.fromkeys(
        ["iloc", "loc", "at", "iat", "xs", "get", "take", "truncate"], "{s}.describe()"
    ),
    **dict.fromkeys(
        [
            "values",
            "array",
            "to_numpy",
            "to_pandas",
            "to_polars",
            "to_dict",
            "to_list",
            "tolist",
            "to_csv",
            "to_parquet",
            "to_json",
            "to_excel",
            "to_sql",
            "to_records",
            "to_string",
            "to_html",
            "to_markdown",
            "to_clipboard",
            "to_latex",
            "to_xarray",
            "to_feather",
            "to_hdf",
            "to_pickle",
            "to_stata",
            "to_orc",
            "to_frame",
            "to_arrow",
            "collect",
            "unique",
            "nunique",
            "mode",
            "drop_duplicates",
            "duplicated",
            "sort_values",
            "sort_index",
            "rank",
        ],
        "{s}.mean()",
    ),
    **dict.fromkeys(
        ["items", "iteritems", "iterrows", "itertuples", "keys"], "{s}.groupby('KEY').size()"
    ),
    **dict.fromkeys(
        [
            "apply",
            "map",
            "applymap",
            "pipe",
            "transform",
            "aggregate",
            "eval",
            "where",
            "mask",
            "replace",
        ],
        "{s}.assign(new={s}.COLUMN * 2)",
    ),
    **dict.fromkeys(["shape", "size_rows", "empty", "index"], "{s}.count()"),
}

FRAME_SUPPORTED = (
    "select: df['a'], df.a, df[['a', 'b']]; filter: df[df.a >= 1], df.query('a >= 1'); "
    "derive: assign, clip, fillna, astype, jp.cut; group: groupby; "
    "aggregate: " + ", ".join(sorted(methods_of("DataFrame")))
)
SERIES_SUPPORTED = (
    ", ".join(methods_of("Series"))
    + "; comparisons, isin, between, isna, notna, clip, fillna, astype, arithmetic"
)
GROUPBY_SUPPORTED = (
    ", ".join(m for m in methods_of("GroupBy") if m != "aggregate")
    + ", [col]."
    + "/".join(m for m in methods_of("GroupedSeries") if m not in methods_of("GroupBy"))
)


#: A series has no columns to assign or group: its fixes derive or count it instead.
SERIES_FIXES = {
    "{s}.assign(new={s}.COLUMN * 2)": "{s} * 2",
    "{s}.groupby('KEY').size()": "{s}.value_counts()",
}


def row_access(what: str, source: str, shown: str, series: bool = False) -> RowAccessError:
    """The refusal for raw access ``what`` (a method or protocol) on ``shown`` (a frame, or a
    series when ``series``)."""
    template = ROW_ACCESS.get(what, "{s}.describe()")
    if series:
        template = SERIES_FIXES.get(template, template)
    fix = template.format(s=shown)
    label = what if what.startswith("__") or what in ("len()", "iteration") else f"{what}"
    return RowAccessError(
        f"access rows with {label}",
        source,
        "raw rows never leave a registered source; only noisy aggregates do",
        [("instead", "aggregates with noise and a confidence interval")],
        [fix],
    )


def no_such_column(name: str, columns: Iterable[str], source: str) -> InvalidArgumentError:
    """A name that is neither a column nor a pandas method: most likely a typo of a column."""
    names = sorted(columns)
    close = difflib.get_close_matches(name, names, n=1)
    return InvalidArgumentError(
        f"read column '{name}'",
        source,
        f"there is no column '{name}'",
        [("columns", ", ".join(names) or "(none)")],
        [f"{source}.{close[0]}" if close[0].isidentifier() else f"{source}[{close[0]!r}]"]
        if close
        else [],
    )


def unsupported(what: str, source: str, supported: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"use {what}",
        source,
        "this operation is not supported on a sensitive source",
        [("supported", supported)],
    )
