"""Networks and metric heads (paper §1–4; talk ``seeds/001``).

Architectures (equinox modules, width and parameterisation explicit): :class:`Dense`,
:class:`MLP`, :class:`CosNet`, :class:`GaussNet`. Metric heads x ↦ g(x):
:class:`IndependentComponents` ("no mixing"), :class:`SharedTrunk` ("mixing"), forms
``additive`` / ``cholesky`` / ``exp``; :class:`ScalarHead` for Kähler potentials. Which
parameters train: ``eqx.partition(model, trainable(model))``.
"""

from .dense import Dense
from .features import CosNet, GaussNet
from .heads import (
    IndependentComponents,
    ScalarHead,
    SharedTrunk,
    kahler_metric,
    kahler_metric_parts,
    sqrtm_spd,
)
from .mlp import MLP
from .trainable import trainable

__all__ = [
    "CosNet", "Dense", "GaussNet", "IndependentComponents", "MLP", "ScalarHead", "SharedTrunk",
    "kahler_metric", "kahler_metric_parts", "sqrtm_spd", "trainable",
]  # fmt: skip
