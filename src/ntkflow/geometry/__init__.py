"""Riemannian geometry of metrics given as differentiable functions of the point."""

from .curvature import (
    christoffel,
    metric_derivative,
    ricci_scalar,
    ricci_tensor,
    riemann,
    riemann_lower,
    volume_density,
)
from .metric import Metric, MetricError, check_metric, check_metric_values, check_point, metric_at

__all__ = [
    "Metric",
    "MetricError",
    "check_metric",
    "check_metric_values",
    "check_point",
    "christoffel",
    "metric_at",
    "metric_derivative",
    "ricci_scalar",
    "ricci_tensor",
    "riemann",
    "riemann_lower",
    "volume_density",
]
