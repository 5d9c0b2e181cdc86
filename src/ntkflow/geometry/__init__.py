"""Riemannian geometry of metrics given as differentiable functions of the point."""

from .closed_form import Conformal, Flat, Hyperbolic, Product, Pullback, RoundSphere, WarpedProduct
from .curvature import (
    christoffel,
    metric_derivative,
    ricci_scalar,
    ricci_tensor,
    riemann,
    riemann_lower,
    volume_density,
    volume_form,
)
from .deturck import deturck_vector
from .hessian import covariant_hessian, gradient_norm_sq, laplacian
from .kahler import (
    chern_connection,
    chern_curvature,
    complex_hessian,
    complex_jet,
    curvature_scalars,
    kahler_ricci_scalar,
    potential_metric,
    pullback,
    ricci_form,
    top_chern_density,
)
from .metric import Metric, MetricError, check_metric, check_metric_values, check_point, metric_at
from .perelman import perelman_F, perelman_W, torus_quadrature, volume
from .ricci_flow import (
    RicciFlowError,
    RicciFlowSolution,
    ricci_flow,
    ricci_flow_round_sphere,
    singular_time_round_sphere,
)
from .ricci_flow_s3 import LeftInvariantS3Metric
from .ricci_flow_sphere import AxisymmetricS2Metric
from .spectral import SpectralTorusMetric, torus_grid

__all__ = [
    "AxisymmetricS2Metric",
    "LeftInvariantS3Metric",
    "RicciFlowError",
    "RicciFlowSolution",
    "ricci_flow",
    "ricci_flow_round_sphere",
    "singular_time_round_sphere",
    "Conformal",
    "Flat",
    "Hyperbolic",
    "Metric",
    "MetricError",
    "Product",
    "Pullback",
    "RoundSphere",
    "SpectralTorusMetric",
    "WarpedProduct",
    "check_metric",
    "check_metric_values",
    "check_point",
    "chern_connection",
    "chern_curvature",
    "christoffel",
    "complex_hessian",
    "complex_jet",
    "curvature_scalars",
    "covariant_hessian",
    "deturck_vector",
    "gradient_norm_sq",
    "kahler_ricci_scalar",
    "laplacian",
    "metric_at",
    "metric_derivative",
    "perelman_F",
    "perelman_W",
    "potential_metric",
    "pullback",
    "ricci_form",
    "ricci_scalar",
    "ricci_tensor",
    "riemann",
    "riemann_lower",
    "torus_grid",
    "top_chern_density",
    "torus_quadrature",
    "volume",
    "volume_density",
    "volume_form",
]
