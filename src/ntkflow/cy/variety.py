"""Projective varieties: the public face of :mod:`ntkflow.cy.projective` (types, evaluation),
:mod:`ntkflow.cy.catalogue` (names, strings, TOML) and :func:`~ntkflow.cy.projective.singularity`;
Q(z) = Σ_m c_m ∏_i z_i^{e_mi} on P^{n_1} x ... x P^{n_F}, everything for ONE point z."""

# ruff: noqa: F401  (a module of re-exports; the lazy table of ntkflow.cy lists the public ones)

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
    singularity,
    variety_from_dict,
    variety_to_json,
)
