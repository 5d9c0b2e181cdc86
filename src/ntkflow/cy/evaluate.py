"""Measures of a metric on a Calabi–Yau variety, as ``ntkflow cy train`` and ``cy measure``
report them: σ (with its Monte-Carlo error), volume, Ricci measure and χ = ∫ c_n.

Formulas: :mod:`ntkflow.cy.measures` (σ, volume, ‖R‖; anchors.md "Conventions") and
:mod:`ntkflow.cy.curvature` (R and the Euler density S; χ ≈ π^{-n}/n! ⟨S w/|Ω|²⟩). Every
per-point quantity is evaluated by :func:`ntkflow.memory.map_chunked`, in chunks whose size
follows from the compiled function's memory analysis and the budget (``NTKFLOW_MEMORY_BUDGET``),
so memory does not grow with the number of points.
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ntkflow.memory import map_chunked

from . import measures
from .curvature import curvature_on_points, euler_characteristic
from .donaldson import potential_det


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
        "ricci_measure": measures.ricci_measure(
            curv["ricci_scalar"], curv["det_g"], points.omega_sq, points.weights, variety.dim
        ),
        "euler_characteristic": chi,
        "euler_characteristic_error": chi_err,
    }
    return summary, curv


def curvature_measures(job, model, n: int = 1000) -> dict:
    """Ricci measure and χ = ∫c_n of ``model`` on the last ``n`` of the job's points (the
    held-out ones)."""
    pts = job.points.take(slice(len(job.points) - n, len(job.points)))
    return curvature_summary(job.variety, model, pts)[0]


def final_measures(run_dir: Path) -> dict:
    """σ (with MC error), volume, Ricci measure and χ of a run's final model on its test set."""
    job, model = load_trained_model(run_dir)
    test = to_float64(job.test)
    det = map_chunked(
        lambda z, jac: jnp.real(jnp.linalg.det(model.pullback_metric(z, jac))), test.z, test.jac
    )
    sigma, sigma_err = measures.sigma_measure(det, test.omega_sq, test.weights)
    out = {
        "sigma_test": sigma,
        "sigma_error": sigma_err,
        "volume": measures.volume(det, test.omega_sq, test.weights),
        "ricci_measure": None,
        "euler_characteristic": None,
    }
    out.update(curvature_measures(job, model))
    return out


def metric_measures(
    variety, potential, points, curvature_points: int, progress=None
) -> tuple[dict, dict]:
    """σ, volume (with errors) on all ``points`` and Ricci measure, χ on the first
    ``curvature_points`` of them; returns ``(summary, per-point arrays)`` with the arrays
    ``eta`` (det g/|Ω|² on all points) and ``ricci_scalar`` (on the curvature points)."""
    det = np.asarray(potential_det(variety, potential, points.z, points.patch, points.elim))
    sigma, err = measures.sigma_measure(det, points.omega_sq, points.weights)
    nc = min(curvature_points, len(points))
    curv, pointwise = curvature_summary(variety, potential, points.take(np.arange(nc)), progress)
    summary = {
        "sigma": sigma,
        "sigma_error": err,
        "volume": measures.volume(det, points.omega_sq, points.weights),
        "volume_error": measures.volume_error(det, points.omega_sq, points.weights),
        **curv,
        "euler_characteristic_exact": variety.euler_characteristic_exact(),
        "curvature_points": nc,
    }
    eta = det / np.asarray(points.omega_sq)
    return summary, {"eta": eta, "ricci_scalar": pointwise["ricci_scalar"]}


__all__ = [
    "curvature_measures",
    "curvature_summary",
    "final_measures",
    "load_trained_model",
    "metric_measures",
    "to_float64",
]
