"""Kernels: the empirical metric-NTK (paper §1), analytic infinite-width kernels (paper §2–4)
and kernel diagnostics."""

from .empirical import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    EmpiricalKernel,
    empirical_ntk,
    kernel_vector_product,
    metric_ntk,
    metric_ntk_plan,
    scalar_ntk,
    tangent_maps,
    unpack,
)
from .gaussian import GaussianKernel, RandomFourierFeatures, gaussian_matrix
from .structured import StructureError

__all__ = [
    "DEFAULT_STRATEGY",
    "EmpiricalKernel",
    "STRATEGIES",
    "GaussianKernel",
    "RandomFourierFeatures",
    "StructureError",
    "gaussian_matrix",
    "empirical_ntk",
    "kernel_vector_product",
    "metric_ntk",
    "metric_ntk_plan",
    "scalar_ntk",
    "tangent_maps",
    "unpack",
]

from . import analytic
from .diagnostics import (
    as_matrix,
    kernel_target_alignment,
    lanczos_eigenvalues,
    ntk_top_eigenvalues,
    randomized_eigenvalues,
    relative_change,
    spectrum,
)
from .infinite_width import (
    component_indicator,
    gaussian_kernel,
    infinite_width_metric_ntk,
    infinite_width_scalar_ntk,
    net_kernels,
    symmetric_projector,
)

__all__ += [
    "analytic",
    "as_matrix",
    "component_indicator",
    "gaussian_kernel",
    "infinite_width_metric_ntk",
    "infinite_width_scalar_ntk",
    "kernel_target_alignment",
    "lanczos_eigenvalues",
    "net_kernels",
    "ntk_top_eigenvalues",
    "randomized_eigenvalues",
    "relative_change",
    "spectrum",
    "symmetric_projector",
]
