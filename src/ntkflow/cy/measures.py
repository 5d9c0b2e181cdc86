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


def curvature_summary(variety, potential, points, progress=None, mesh=None) -> tuple[dict, dict]:
    """Ricci measure and χ (with its standard error) of ``potential`` on a
    :class:`~ntkflow.cy.points.PointSet` (the curvature sharded over ``mesh`` when given);
    returns ``(summary, per-point arrays)``."""
    curv = curvature_on_points(
        variety, potential, points.z, points.patch, points.elim, progress=progress, mesh=mesh
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
    held_out = job.held_out  # the last 1 000 sampled points
    return {
        "sigma_test": sigma,
        "sigma_error": sigma_err,
        "volume": volume(det, test.omega_sq, test.weights),
        **curvature_summary(job.variety, model, held_out)[0],  # Ricci measure and χ
    }


class SigmaVolumeStream:
    """σ and the volume (with their Monte-Carlo standard errors) of a metric accumulated over
    chunks of points, equal to :func:`sigma_measure`, :func:`volume` and :func:`volume_error`
    on all the points at once.

    σ needs the ratio c = vol_Ω/vol_g of all points before |1 − η c|, so each chunk's
    η_p = det g_p/|Ω|²_p and w_p are kept (16 bytes per point; in a temporary file mapped into
    memory when N·16 bytes exceed the memory budget) and :meth:`result` makes three passes over
    them. With S_w = Σ w_p, S_v = Σ η_p w_p over the N points:

        vol_Ω = S_w/N,   vol_g = S_v/N,   c = vol_Ω/vol_g,
        a_p = |1 − η_p c| w_p,   σ = (Σ a_p / N)/vol_Ω = Σ a_p / S_w,
        d_p = a_p − σ w_p  (Σ d_p = 0 up to rounding),
        err σ = sqrt(Σ (d_p − d̄)² / (N − 1)) / √N / vol_Ω,
        volume = vol_g,   err volume = sqrt(Σ (η_p w_p − vol_g)² / (N − 1)) / √N,

    (the delta-method error of the ratio estimator, docs/derivations.md#cy-measures-sigma_measure;
    ddof 0 when N = 1, as in :func:`sigma_measure`). In a multi-process run each process keeps
    only the rows it evaluated, and every sum above (N included) is summed over the processes
    (:func:`ntkflow.parallel.process_sum`)."""

    PASS_CHUNK = 1 << 20

    def __init__(self, n_points: int, budget: int | None = None):
        from ntkflow.memory import memory_budget

        self.n_total = int(n_points)
        self.n = 0
        budget = memory_budget() if budget is None else int(budget)
        self._tmp = None
        if 16 * self.n_total > budget:
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="ntkflow-eta-")
            self.eta_w = np.memmap(
                Path(self._tmp.name) / "eta_w.f64", np.float64, "w+", shape=(2, self.n_total)
            )
        else:
            self.eta_w = np.empty((2, self.n_total))

    def add(self, det_g, omega_sq, weights) -> np.ndarray:
        """Take one chunk (checked like :func:`sigma_measure`'s input); returns its η."""
        eta, w = _check(det_g, omega_sq, weights, "sigma_measure")
        eta, w = np.asarray(eta), np.asarray(w)
        k = eta.shape[0]
        if self.n + k > self.n_total:
            raise MeasureError(f"more than the announced {self.n_total} points")
        self.eta_w[0, self.n : self.n + k] = eta
        self.eta_w[1, self.n : self.n + k] = w
        self.n += k
        return eta

    @property
    def eta(self) -> np.ndarray:
        """η of the points taken so far."""
        return self.eta_w[0, : self.n]

    def _passes(self, f) -> float:
        from ntkflow.parallel import process_sum

        total = 0.0
        for a in range(0, self.n, self.PASS_CHUNK):
            b = min(a + self.PASS_CHUNK, self.n)
            total += float(f(self.eta_w[0, a:b], self.eta_w[1, a:b]))
        return float(process_sum(total))

    def result(self) -> dict:
        """{"sigma", "sigma_error", "volume", "volume_omega", "volume_error"} of the points
        taken (docstring of the class for the algebra)."""
        from ntkflow.parallel import process_sum

        n = int(process_sum(self.n))
        if n == 0:
            raise MeasureError("sigma_measure: no points")
        s_w = self._passes(lambda e, w: np.sum(w))
        s_v = self._passes(lambda e, w: np.sum(e * w))
        vol_omega, vol_g = s_w / n, s_v / n
        c = vol_omega / vol_g
        sigma = self._passes(lambda e, w: np.sum(np.abs(1.0 - e * c) * w)) / s_w
        d_sum = self._passes(lambda e, w: np.sum(np.abs(1.0 - e * c) * w - sigma * w))
        d_mean = d_sum / n
        d_m2 = self._passes(
            lambda e, w: np.sum((np.abs(1.0 - e * c) * w - sigma * w - d_mean) ** 2)
        )
        v_m2 = self._passes(lambda e, w: np.sum((e * w - vol_g) ** 2))
        ddof = 1 if n > 1 else 0
        return {
            "sigma": sigma,
            "sigma_error": float(np.sqrt(d_m2 / (n - ddof)) / np.sqrt(n) / vol_omega),
            "volume": vol_g,
            "volume_omega": vol_omega,
            "volume_error": float(np.sqrt(v_m2 / (n - 1)) / np.sqrt(n)) if n > 1 else float("nan"),
        }

    def close(self) -> None:
        """Remove the temporary file (when one was used)."""
        if self._tmp is not None:
            del self.eta_w
            self._tmp.cleanup()
            self._tmp = None


STREAM_CHUNK = 1 << 20
"""Points read and measured at a time by :func:`stream_sigma_volume` (about 0.1 GB of points
on the quintic, a few times that while their metric is evaluated)."""


def stream_sigma_volume(
    variety,
    potential,
    points,
    keep: int = 0,
    mesh=None,
    chunk: int | None = None,
    check: bool = True,
    progress=None,
) -> tuple[dict, np.ndarray, object]:
    """σ and volume with their errors (:class:`SigmaVolumeStream`) of ``potential`` on
    ``points`` — a :class:`~ntkflow.cy.points.PointSet`, a point file or a shard directory
    (streamed in chunks of ``chunk`` points, :data:`STREAM_CHUNK` by default, never all held)
    — with det g from :func:`ntkflow.cy.donaldson.potential_det` sharded over ``mesh``. Each
    chunk is checked first (:meth:`PointSet.check`) unless ``check`` is False;
    ``progress(k)`` after each chunk of k points. Returns ``(summary, η of every point, the
    first ``keep`` points as one PointSet or None)``; in a multi-process run η of this
    process's rows (:func:`ntkflow.parallel.process_rows`) and the same head on every process."""
    from ntkflow import parallel

    from .donaldson import potential_det
    from .points import PointSet, PointSource, concatenate

    chunk = chunk or STREAM_CHUNK
    source = None
    if not isinstance(points, PointSet):
        source = points if isinstance(points, PointSource) else PointSource.open(points)
    n = len(points) if source is None else len(source)
    # a multi-process run: each process reads and evaluates only its own rows, on its own
    # devices, and the sums are added over the processes (SigmaVolumeStream)
    start, stop = parallel.process_rows(n) if parallel.multi_process() else (0, n)
    if parallel.multi_process():
        mesh = parallel.local_mesh(mesh)
    if source is None:
        chunks = (
            (
                points.take(slice(a, min(a + chunk, stop))),
                f"points (rows {a}..{min(a + chunk, stop) - 1})",
            )
            for a in range(start, stop, chunk)
        )
    else:
        chunks = ((c, where) for where, c in source.labelled_chunks(chunk, stop, start))
    acc = SigmaVolumeStream(stop - start)
    head, have = [], 0
    try:
        for part, label in chunks:
            if check:
                part.check(variety, where=label)
            det = potential_det(variety, potential, part.z, part.patch, part.elim, mesh=mesh)
            acc.add(det, part.omega_sq, part.weights)
            if have < keep:
                head.append(part.take(slice(0, keep - have)))
                have += len(head[-1])
            if progress is not None:
                progress(len(part))
        summary = acc.result()
        eta = np.array(acc.eta)
    finally:
        acc.close()
    if keep > 0 and (start > 0 or have < min(keep, n)):  # every process: the same head
        first = points if source is None else source.head(keep)
        head = [first.take(slice(0, keep))]
    return summary, eta, (concatenate(head) if head else None)


def metric_measures(
    variety,
    potential,
    points,
    curvature_points: int,
    progress=None,
    mesh=None,
    chunk: int | None = None,
    check: bool = False,
    points_progress=None,
) -> tuple[dict, dict]:
    """σ, volume (with errors) on all ``points`` (a PointSet, point file or shard directory,
    streamed: :func:`stream_sigma_volume`) and Ricci measure, χ on the first
    ``curvature_points`` of them; every per-point evaluation sharded over ``mesh`` when given.
    Returns ``(summary, per-point arrays)`` with the arrays ``eta`` (det g/|Ω|² on all
    points) and ``ricci_scalar`` (on the curvature points). ``progress``: the curvature's,
    ``points_progress``: the streaming's; ``check``: check each chunk of points first."""
    measured, eta, head = stream_sigma_volume(
        variety,
        potential,
        points,
        keep=curvature_points,
        mesh=mesh,
        chunk=chunk,
        check=check,
        progress=points_progress,
    )
    curv, pointwise = curvature_summary(variety, potential, head, progress, mesh=mesh)
    summary = {
        **measured,
        **curv,
        "euler_characteristic_exact": variety.euler_characteristic_exact(),
        "curvature_points": len(head),
    }
    return summary, {"eta": eta, "ricci_scalar": pointwise["ricci_scalar"]}
