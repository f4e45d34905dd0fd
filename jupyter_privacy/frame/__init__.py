"""pandas-shaped builders of data-free plans."""

from jupyter_privacy.frame.frame import SensitiveFrame, parse_query
from jupyter_privacy.frame.groupby import GroupedSeries, SensitiveGroupBy
from jupyter_privacy.frame.options import ReleaseOptions
from jupyter_privacy.frame.series import SensitiveSeries

__all__ = [
    "GroupedSeries",
    "ReleaseOptions",
    "SensitiveFrame",
    "SensitiveGroupBy",
    "SensitiveSeries",
    "parse_query",
]
