"""Projective varieties: the public face of :mod:`ntkflow.cy.projective` (types and evaluation),
:mod:`ntkflow.cy.catalogue` (named varieties, polynomial strings, TOML) and
:mod:`ntkflow.cy.smoothness` (the singularity search).

A variety lives in P^{n_1} x ... x P^{n_F} with concatenated homogeneous coordinates z and is
cut out by polynomials Q(z) = Σ_m c_m ∏_i z_i^{e_mi}; everything is written for ONE point.
"""

from .catalogue import (
    VARIETY_NAMES,
    bicubic,
    cicy_p5_33,
    cubic_torus,
    dwork_quintic,
    fermat,
    fermat_quintic,
    hypersurface_from_string,
    quartic_k3,
    tetraquadric,
    variety_from_name,
    variety_from_toml,
)
from .projective import (
    CompleteIntersection,
    Hypersurface,
    Variety,
    VarietyError,
    check_smooth,
    intersection_number,
    variety_from_dict,
    variety_to_json,
)
from .smoothness import singularity

__all__ = [
    "VARIETY_NAMES",
    "CompleteIntersection",
    "Hypersurface",
    "Variety",
    "VarietyError",
    "bicubic",
    "check_smooth",
    "cicy_p5_33",
    "cubic_torus",
    "dwork_quintic",
    "fermat",
    "fermat_quintic",
    "hypersurface_from_string",
    "intersection_number",
    "quartic_k3",
    "singularity",
    "tetraquadric",
    "variety_from_dict",
    "variety_from_name",
    "variety_from_toml",
    "variety_to_json",
]
