"""Networks and metric heads (paper §1–4; talk ``seeds/001``).

Architectures (equinox modules, width and parameterisation explicit): :class:`Dense`,
:class:`MLP`, :class:`CosNet`, :class:`GaussNet`. Metric heads x ↦ g(x):
:class:`IndependentComponents` ("no mixing"), :class:`SharedTrunk` ("mixing"), forms
``additive`` / ``cholesky`` / ``exp``; :class:`ScalarHead` for Kähler potentials. Which
parameters train: ``eqx.partition(model, trainable(model))``.
"""

from .activations import ACTIVATIONS, get_activation
from .cosnet import CosNet
from .dense import PARAMETERIZATIONS, Dense
from .forms import FORMS, apply_form, sqrtm_spd
from .gaussnet import GaussNet
from .heads import IndependentComponents, ScalarHead, SharedTrunk
from .kahler import kahler_metric, kahler_metric_parts
from .mlp import MLP
from .trainable import trainable

__all__ = [
    "ACTIVATIONS",
    "FORMS",
    "PARAMETERIZATIONS",
    "CosNet",
    "Dense",
    "GaussNet",
    "IndependentComponents",
    "MLP",
    "ScalarHead",
    "SharedTrunk",
    "apply_form",
    "get_activation",
    "kahler_metric",
    "kahler_metric_parts",
    "sqrtm_spd",
    "trainable",
]
