"""Numerical Calabi–Yau metrics: varieties, points, potentials, balanced metrics, measures.
Names are imported lazily from their modules (``_SOURCES``): ``import ntkflow.cy`` stays cheap
and has no import cycles. Example and module map: docs/derivations.md#cy."""

from __future__ import annotations

import importlib

_SOURCES = {  # module: the public names it gives the package
    "variety": """VARIETY_NAMES CompleteIntersection Hypersurface Variety VarietyError bicubic
        check_smooth cicy_p5_33 cubic_torus dwork_quintic fermat fermat_quintic
        hypersurface_from_string intersection_number quartic_k3 tetraquadric variety_from_name
        variety_from_toml""",
    "sections": """fs_hermitian leading_exponent monomial_exponents n_sections section_basis
        section_values""",
    "points": "PointSet PointSetError",
    "sampling": "SamplingError sample_points",
    "fubini_study": "FubiniStudy fs_det fs_metric",
    "potential": "AlgebraicPotential PhiPotential spectral_inputs",
    "donaldson": "balanced_hermitian balanced_metric potential_det",
    "measures": """MeasureError ricci_measure sigma_measure volume volume_error volume_omega
        curvature_summary load_trained_model metric_measures""",
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names.split()}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ntkflow.cy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
