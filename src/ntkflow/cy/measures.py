"""Monte-Carlo measures of a metric on a Calabi-Yau variety (anchors.md, "Conventions").
σ = (1/vol_Ω) ⟨|1 − η vol_Ω / vol_g| w⟩ (Douglas et al. 2006), ‖R‖ = vol_g^{1/n}/vol_Ω ⟨|R| η w⟩,
volume ⟨η w⟩; chunked. Derivation: docs/derivations.md#cy-measures."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ntkflow.memory import map_chunked

from .curvature import curvature_on_points, euler_characteristic


class MeasureError(ValueError):
    """Raised for malformed inputs (shapes, NaN, non-positive determinants)."""


def _check(det_g, omega_sq, weights, where: str):
    """(η, w) after checking shapes and finiteness."""
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
    return det_g / omega_sq, weights


def sigma_measure(
    det_g: Float[Array, " N"], omega_sq: Float[Array, " N"], weights: Float[Array, " N"]
) -> tuple[float, float]:
    """σ = (1/vol_Ω) ⟨|1 − η vol_Ω/vol_g| w⟩ and its Monte-Carlo standard error (the
    delta-method error of a ratio estimator: docs/derivations.md#cy-measures-sigma_measure)."""
    eta, weights = _check(det_g, omega_sq, weights, "sigma_measure")
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
    """∫_X ω_g^n = ⟨η w⟩ (normalisation: FS on the Fermat quintic gives 5,
    docs/derivations.md#cy-measures)."""
    eta, weights = _check(det_g, omega_sq, weights, "volume")
    return float(jnp.mean(eta * weights))


def volume_error(det_g, omega_sq, weights) -> float:
    """Monte-Carlo standard error of :func:`volume`."""
    eta, weights = _check(det_g, omega_sq, weights, "volume")
    v = eta * weights
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
    eta, weights = _check(det_g, omega_sq, weights, "ricci_measure")
    R = jnp.asarray(ricci_scalar, dtype=jnp.float64)
    if R.shape != eta.shape:
        raise MeasureError(f"ricci_measure: ricci_scalar has shape {R.shape}, need {eta.shape}")
    bad = ~np.isfinite(np.asarray(R))
    if bad.any():
        raise MeasureError(
            f"ricci_measure: Ricci scalar is NaN or inf at point {int(np.argmax(bad))}"
        )
    vol_omega = jnp.mean(weights)
    vol_g = jnp.mean(eta * weights)
    return float(vol_g ** (1.0 / dim) / vol_omega * jnp.mean(jnp.abs(R) * eta * weights))


def to_float64(tree):
    """Cast every float32/complex64 array of a pytree (model or data) to float64/complex128."""

    def cast(x):
        if eqx.is_inexact_array(x):
            return x.astype(jnp.complex128 if jnp.iscomplexobj(x) else jnp.float64)
        return x

    return jax.tree.map(cast, tree)


def load_trained_model(run_dir):
    """(job, final model in float64) of a finished `cy train` run: the job is rebuilt from the
    run's config (it re-samples the run's points) to give the model its structure."""
    import ntkflow.io as nio

    rd = nio.RunDir.open(run_dir)
    run = rd.read_run()
    job = nio.make_job(run["job"], run["config"])
    # measure in float64 whatever the training precision
    return job, to_float64(nio.load_model(rd.model, job.build))


def curvature_summary(variety, potential, points, progress=None) -> tuple[dict, dict]:
    """Ricci measure and χ (with its standard error) of ``potential`` on a
    :class:`~ntkflow.cy.points.PointSet`; returns ``(summary, per-point arrays)``."""
    curv = curvature_on_points(
        variety, potential, points.z, points.patch, points.elim, progress=progress
    )
    chi, chi_err = euler_characteristic(
        curv["euler_density"], points.omega_sq, points.weights, variety.dim
    )
    summary = {
        "ricci_measure": ricci_measure(
            curv["ricci_scalar"], curv["det_g"], points.omega_sq, points.weights, variety.dim
        ),
        "euler_characteristic": chi,
        "euler_characteristic_error": chi_err,
    }
    return summary, curv


def final_measures(run_dir: Path) -> dict:
    """σ (with MC error), volume, Ricci measure and χ of a run's final model on its test set."""
    job, model = load_trained_model(run_dir)
    test = to_float64(job.test)
    det = map_chunked(
        lambda z, jac: jnp.real(jnp.linalg.det(model.pullback_metric(z, jac))), test.z, test.jac
    )
    sigma, sigma_err = sigma_measure(det, test.omega_sq, test.weights)
    held_out = job.points.take(slice(len(job.points) - 1000, len(job.points)))
    return {
        "sigma_test": sigma,
        "sigma_error": sigma_err,
        "volume": volume(det, test.omega_sq, test.weights),
        **curvature_summary(job.variety, model, held_out)[0],  # Ricci measure and χ
    }


def metric_measures(
    variety, potential, points, curvature_points: int, progress=None
) -> tuple[dict, dict]:
    """σ, volume (with errors) on all ``points`` and Ricci measure, χ on the first
    ``curvature_points`` of them; returns ``(summary, per-point arrays)`` with the arrays
    ``eta`` (det g/|Ω|² on all points) and ``ricci_scalar`` (on the curvature points)."""
    from .donaldson import potential_det

    det = np.asarray(potential_det(variety, potential, points.z, points.patch, points.elim))
    sigma, err = sigma_measure(det, points.omega_sq, points.weights)
    nc = min(curvature_points, len(points))
    curv, pointwise = curvature_summary(variety, potential, points.take(np.arange(nc)), progress)
    summary = {
        "sigma": sigma,
        "sigma_error": err,
        "volume": volume(det, points.omega_sq, points.weights),
        "volume_error": volume_error(det, points.omega_sq, points.weights),
        **curv,
        "euler_characteristic_exact": variety.euler_characteristic_exact(),
        "curvature_points": nc,
    }
    eta = det / np.asarray(points.omega_sq)
    return summary, {"eta": eta, "ricci_scalar": pointwise["ricci_scalar"]}
