"""Networks (:class:`Dense`, :class:`MLP`, :class:`CosNet`, :class:`GaussNet`) and metric heads
x ↦ g(x) (:class:`IndependentComponents`, :class:`SharedTrunk`, :class:`ScalarHead`) of paper
§1–4 and talk ``seeds/001``; ``eqx.partition(model, trainable(model))`` splits the parameters.
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
