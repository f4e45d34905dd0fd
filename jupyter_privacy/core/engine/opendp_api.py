"""The parts of OpenDP the engine uses, without ``opendp.prelude`` (which also imports the
scikit-learn extras: seconds of import time in every kernel, for nothing we use)."""

from __future__ import annotations

from opendp import combinators as c
from opendp import measurements as m
from opendp import transformations as t
from opendp.accuracy import (
    accuracy_to_discrete_gaussian_scale,
    accuracy_to_discrete_laplacian_scale,
    discrete_gaussian_scale_to_accuracy,
    discrete_laplacian_scale_to_accuracy,
    gaussian_scale_to_accuracy,
)
from opendp.domains import atom_domain, map_domain, vector_domain
from opendp.measures import max_divergence, zero_concentrated_divergence
from opendp.metrics import (
    absolute_distance,
    l01inf_distance,
    l02inf_distance,
    l1_distance,
    l2_distance,
    symmetric_distance,
)
from opendp.mod import enable_features
from opendp.typing import String, f64, i64

enable_features("contrib")

__all__ = [
    "String",
    "absolute_distance",
    "accuracy_to_discrete_gaussian_scale",
    "accuracy_to_discrete_laplacian_scale",
    "atom_domain",
    "c",
    "discrete_gaussian_scale_to_accuracy",
    "discrete_laplacian_scale_to_accuracy",
    "f64",
    "gaussian_scale_to_accuracy",
    "i64",
    "l01inf_distance",
    "l02inf_distance",
    "l1_distance",
    "l2_distance",
    "m",
    "map_domain",
    "max_divergence",
    "symmetric_distance",
    "t",
    "vector_domain",
    "zero_concentrated_divergence",
]
