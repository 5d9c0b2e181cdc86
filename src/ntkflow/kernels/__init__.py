"""Kernels: the empirical metric-NTK (paper §1), analytic infinite-width kernels (paper §2–4)
and kernel diagnostics."""

# ruff: noqa: F401  (re-exports)

from .diagnostics import (
    as_matrix,
    kernel_target_alignment,
    lanczos_eigenvalues,
    ntk_top_eigenvalues,
    randomized_eigenvalues,
    relative_change,
    spectrum,
)
from .empirical import (
    STRATEGIES,
    EmpiricalKernel,
    empirical_ntk,
    kernel_vector_product,
    metric_ntk,
    metric_ntk_plan,
    scalar_ntk,
    tangent_maps,
)
from .gaussian import GaussianKernel, RandomFourierFeatures, gaussian_matrix
from .infinite_width import (
    component_indicator,
    gaussian_kernel,
    infinite_width_metric_ntk,
    net_kernels,
    symmetric_projector,
)
from .structured import StructureError
