"""Riemannian geometry of metrics given as differentiable functions of the point."""

from .closed_form import Conformal, Flat, Hyperbolic, Product, Pullback, RoundSphere, WarpedProduct
from .curvature import (
    christoffel,
    covariant_hessian,
    deturck_vector,
    laplacian,
    ricci_scalar,
    ricci_tensor,
    riemann,
    riemann_lower,
    volume_form,
)
from .metric import MetricError, check_metric
from .perelman_flow import perelman_F, perelman_W, torus_quadrature, volume
from .ricci_flow import (
    RicciFlowError,
    ricci_flow,
    ricci_flow_round_sphere,
    singular_time_round_sphere,
)
from .ricci_flow_sphere import AxisymmetricS2Metric, LeftInvariantS3Metric
from .spectral import SpectralTorusMetric

__all__ = [
    "AxisymmetricS2Metric", "Conformal", "Flat", "Hyperbolic", "LeftInvariantS3Metric",
    "MetricError", "Product", "Pullback", "RicciFlowError", "RoundSphere", "SpectralTorusMetric",
    "WarpedProduct", "check_metric", "christoffel", "covariant_hessian", "deturck_vector",
    "laplacian", "perelman_F", "perelman_W", "ricci_flow", "ricci_flow_round_sphere",
    "ricci_scalar", "ricci_tensor", "riemann", "riemann_lower", "singular_time_round_sphere",
    "torus_quadrature", "volume", "volume_form",
]  # fmt: skip
