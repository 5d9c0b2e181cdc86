"""Metric flows (paper §2–3): parameter flow, frozen-kernel flow, linearised flow, the Ricci
limit and the width limit. See ``docs/flows.md``."""

from ..kernels import EmpiricalKernel
from .kernel_flow import (
    DenseKernelMetric,
    FlowError,
    KernelFlowResult,
    KernelMetric,
    SeparableKernel,
    euler_flow,
    gram_matrix,
    kernel_flow,
    kernel_vector_product,
    power_iteration,
    regression_closed_form,
)
from .linearised import LinearisedMetric, linearised_flow
from .losses import (
    EinsteinLoss,
    Loss,
    LossError,
    MetricRegression,
    PerelmanLoss,
    UserLoss,
    functional_derivative,
    perelman_gradient,
    total_loss,
)
from .optimise import make_optimiser, make_step
from .parameter_flow import (
    ParameterFlowError,
    ParameterFlowResult,
    empirical_ntk,
    flow_check,
    parameter_flow,
)

__all__ = [
    "DenseKernelMetric",
    "EinsteinLoss",
    "EmpiricalKernel",
    "FlowError",
    "KernelFlowResult",
    "KernelMetric",
    "LinearisedMetric",
    "Loss",
    "LossError",
    "MetricRegression",
    "ParameterFlowError",
    "ParameterFlowResult",
    "PerelmanLoss",
    "SeparableKernel",
    "UserLoss",
    "empirical_ntk",
    "flow_check",
    "functional_derivative",
    "gram_matrix",
    "kernel_flow",
    "kernel_vector_product",
    "euler_flow",
    "power_iteration",
    "make_optimiser",
    "make_step",
    "linearised_flow",
    "parameter_flow",
    "perelman_gradient",
    "regression_closed_form",
    "total_loss",
]
