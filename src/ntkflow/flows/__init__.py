"""Metric flows (paper §2–3): parameter flow, frozen-kernel flow, linearised flow, the Ricci
limit and the width limit. See ``docs/flows.md``."""

from .kernel_flow import euler_flow, power_iteration
from .linearised import LinearisedMetric
from .optimise import make_step

__all__ = ["LinearisedMetric", "euler_flow", "make_step", "power_iteration"]
