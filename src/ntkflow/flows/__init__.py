"""Metric flows (paper §2–3): parameter flow, frozen-kernel flow, linearised flow, the Ricci
limit and the width limit. See ``docs/flows.md``."""

from .kernel_flow import (
    DenseKernelMetric,
    FlowError,
    KernelFlowResult,
    KernelMetric,
    SeparableKernel,
    gram_matrix,
    kernel_flow,
    kernel_vector_product,
    regression_closed_form,
)
from .linearized import EmpiricalKernel, LinearizedMetric, linearized_flow
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
    "LinearizedMetric",
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
    "linearized_flow",
    "parameter_flow",
    "perelman_gradient",
    "regression_closed_form",
    "total_loss",
]
