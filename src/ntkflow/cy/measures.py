"""Monte-Carlo measures of a metric on a Calabi-Yau variety (anchors.md, "Conventions").

Inputs per point: ``det_g`` (det of the pulled-back metric in the chart of the point),
``omega_sq`` = |Ω|² and ``weights`` w = V_FS |Ω|²/det g_FS (see :mod:`ntkflow.cy.points`).
With η = det g / |Ω|² and ⟨·⟩ the plain mean over the sampled points:

    vol_Ω = ⟨w⟩,   vol_g = ⟨η w⟩,
    σ = (1/vol_Ω) ⟨ |1 − η vol_Ω / vol_g| w ⟩                    (Douglas et al. 2006;
                                                                 anchors.md "sigma measure")
    ‖R‖ = vol_g^{1/n} / vol_Ω · ⟨ |R| η w ⟩                      (anchors.md "Ricci measure")
    volume ∫_X ω_g^n = ⟨η w⟩ = vol_g                              (5 for FS on the quintic)

The volume normalisation: the points have density det g_FS / ∫det g_FS and
∫_X det g_FS d^{2n}x = V_FS/n! with V_FS = ∫_X J_FS^n the intersection number (ω = (i/2) g dz∧dz̄,
so ω^n/n! = det g d^{2n}x). Weights carry the factor V_FS, hence ⟨η w⟩ → ∫ ω_g^n.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


class MeasureError(ValueError):
    """Raised for malformed inputs (shapes, NaN, non-positive determinants)."""


def _check(det_g, omega_sq, weights, where: str):
    det_g, omega_sq, weights = (
        jnp.asarray(a, dtype=jnp.float64) for a in (det_g, omega_sq, weights)
    )
    n = det_g.shape[0] if det_g.ndim == 1 else -1
    if n <= 0 or omega_sq.shape != (n,) or weights.shape != (n,):
        raise MeasureError(
            f"{where}: det_g, omega_sq, weights must be 1-d of equal length, got "
            f"{det_g.shape}, {omega_sq.shape}, {weights.shape}"
        )
    for name, a in (("det_g", det_g), ("omega_sq", omega_sq), ("weights", weights)):
        bad = ~np.isfinite(np.asarray(a))
        if bad.any():
            raise MeasureError(f"{where}: {name} is NaN or inf at point {int(np.argmax(bad))}")
    return det_g, omega_sq, weights


def sigma_measure(
    det_g: Float[Array, " N"], omega_sq: Float[Array, " N"], weights: Float[Array, " N"]
) -> tuple[float, float]:
    """σ = (1/vol_Ω) ⟨|1 − η vol_Ω/vol_g| w⟩ and its Monte-Carlo standard error.

    The error is the delta-method error of the ratio estimator ⟨a⟩/⟨w⟩ with
    a = |1 − η vol_Ω/vol_g| w: sqrt(Var(a − σ w)/N) / ⟨w⟩ (the fluctuation of vol_Ω/vol_g is of
    lower order and not included)."""
    det_g, omega_sq, weights = _check(det_g, omega_sq, weights, "sigma_measure")
    eta = det_g / omega_sq
    vol_omega = jnp.mean(weights)
    vol_g = jnp.mean(eta * weights)
    a = jnp.abs(1.0 - eta * vol_omega / vol_g) * weights
    sigma = jnp.mean(a) / vol_omega
    n = a.shape[0]
    err = jnp.std(a - sigma * weights, ddof=1 if n > 1 else 0) / jnp.sqrt(n) / vol_omega
    return float(sigma), float(err)


def volume(
    det_g: Float[Array, " N"], omega_sq: Float[Array, " N"], weights: Float[Array, " N"]
) -> float:
    """∫_X ω_g^n = ⟨η w⟩ (normalisation: FS on the Fermat quintic gives 5, see module doc)."""
    det_g, omega_sq, weights = _check(det_g, omega_sq, weights, "volume")
    return float(jnp.mean(det_g / omega_sq * weights))


def volume_error(det_g, omega_sq, weights) -> float:
    """Monte-Carlo standard error of :func:`volume`."""
    det_g, omega_sq, weights = _check(det_g, omega_sq, weights, "volume")
    v = det_g / omega_sq * weights
    return float(jnp.std(v, ddof=1) / jnp.sqrt(v.shape[0]))


def volume_omega(omega_sq, weights) -> float:
    """vol_Ω = ⟨w⟩."""
    return float(jnp.mean(jnp.asarray(weights)))


def ricci_measure(
    ricci_scalar: Float[Array, " N"],
    det_g: Float[Array, " N"],
    omega_sq: Float[Array, " N"],
    weights: Float[Array, " N"],
    dim: int,
) -> float:
    """‖R‖ = vol_g^{1/n}/vol_Ω ⟨|R| η w⟩ with n = ``dim`` the complex dimension."""
    det_g, omega_sq, weights = _check(det_g, omega_sq, weights, "ricci_measure")
    R = jnp.asarray(ricci_scalar, dtype=jnp.float64)
    if R.shape != det_g.shape:
        raise MeasureError(f"ricci_measure: ricci_scalar has shape {R.shape}, need {det_g.shape}")
    bad = ~np.isfinite(np.asarray(R))
    if bad.any():
        raise MeasureError(
            f"ricci_measure: Ricci scalar is NaN or inf at point {int(np.argmax(bad))}"
        )
    eta = det_g / omega_sq
    vol_omega = jnp.mean(weights)
    vol_g = jnp.mean(eta * weights)
    return float(vol_g ** (1.0 / dim) / vol_omega * jnp.mean(jnp.abs(R) * eta * weights))
