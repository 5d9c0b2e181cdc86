"""Metric flows (paper §2–3): parameter flow, frozen-kernel flow, linearised flow, the Ricci
limit and the width limit. See ``docs/flows.md``."""

from .kernel_flow import euler_flow, power_iteration
from .linearised import LinearisedMetric
from .optimise import Minimised, Stationarity, make_step, minimise

__all__ = [
    "LinearisedMetric",
    "Minimised",
    "Stationarity",
    "euler_flow",
    "make_step",
    "minimise",
    "power_iteration",
]
