"""Learning Ricci-flat metrics: Monge–Ampère training of Kähler-potential ansätze.

The Ricci-flat Kähler metric in the class of J is the one whose volume form is a constant
multiple of Ω∧Ω̄ (Yau): det g = κ |Ω|² with κ = vol_J / vol_Ω fixed by the Kähler class. The
ansätze of :mod:`ntkflow.cy.potential` stay in the class of the Fubini–Study metric (they
change K by a global function), so κ is the Fubini–Study value, computed once on the
training points (this is how cymetric and MLGeometry handle κ). The Monge–Ampère loss is

    l_p = ⟨ |1 − η/κ|^p w ⟩ / ⟨w⟩,   η = det g / |Ω|²,

whose p = 1 value is the σ measure up to the normalisation of η (anchors.md). p = 2 is smooth
and suits L-BFGS; p = 1 is what Adam trains in the peers.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Complex, Float

from ntkflow.cy.kahler import pullback_jacobian
from ntkflow.cy.points import PointSet
from ntkflow.flows.optimise import make_step as flow_step


class TrainingError(RuntimeError):
    """Training produced a non-finite loss or metric."""


class TrainingSet(eqx.Module):
    """What the Monge–Ampère loss needs at each point: z, the embedding Jacobian J,
    |Ω|² and the integration weight w."""

    z: Complex[Array, "N n"]
    jac: Complex[Array, "N d n"]
    omega_sq: Float[Array, " N"]
    weights: Float[Array, " N"]

    @classmethod
    def from_points(cls, variety, points: PointSet, dtype=jnp.float64) -> TrainingSet:
        cdtype = jnp.complex64 if dtype == jnp.float32 else jnp.complex128
        jac = jax.jit(jax.vmap(lambda z, p, e: pullback_jacobian(variety, z, p, e)))(
            points.z, points.patch, points.elim
        )
        return cls(
            z=jnp.asarray(points.z, cdtype),
            jac=jnp.asarray(jac, cdtype),
            omega_sq=jnp.asarray(points.omega_sq, dtype),
            weights=jnp.asarray(points.weights, dtype),
        )

    def __len__(self) -> int:
        return int(self.z.shape[0])

    def take(self, idx) -> TrainingSet:
        return jax.tree.map(lambda a: a[idx], self)


def det_metric(model, data: TrainingSet) -> Float[Array, " N"]:
    """det g_{a b̄} of the pulled-back metric at every point (real part; g is Hermitian)."""
    return eta_from_metrics(jax.vmap(model.pullback_metric)(data.z, data.jac), 1.0)


def eta(model, data: TrainingSet, chunk: int | None = None) -> Float[Array, " N"]:
    """η = det g / |Ω|², optionally in chunks of ``chunk`` points to bound memory."""
    if chunk is None or len(data) <= chunk:
        return det_metric(model, data) / data.omega_sq
    n = len(data)
    pad = (-n) % chunk
    padded = jax.tree.map(lambda a: jnp.concatenate([a, a[:pad]]) if pad else a, data)
    blocks = jax.tree.map(lambda a: a.reshape(-1, chunk, *a.shape[1:]), padded)
    out = jax.lax.map(lambda b: det_metric(model, b) / b.omega_sq, blocks)
    return out.reshape(-1)[:n]


def pointwise_loss(e: Array, kappa: float, p: int = 2) -> Array:
    """ℓ = |1 − η/κ|^p at each point (the Monge–Ampère residual; module docstring)."""
    return jnp.abs(1.0 - e / kappa) ** p


def loss_from_eta(e: Array, weights: Array, kappa: float, p: int = 2) -> Float[Array, ""]:
    """l_p = ⟨|1 − η/κ|^p w⟩ / ⟨w⟩ from η at the points (module docstring)."""
    return jnp.sum(pointwise_loss(e, kappa, p) * weights) / jnp.sum(weights)


def eta_from_metrics(g: Complex[Array, "N d d"], omega_sq: Float[Array, " N"]) -> Array:
    """η = det g / |Ω|² from the pulled-back metrics g_{a b̄} at the points."""
    return jnp.real(jnp.linalg.det(g)) / omega_sq


def monge_ampere_loss(model, data: TrainingSet, kappa: float, p: int = 2) -> Float[Array, ""]:
    """l_p = ⟨|1 − η/κ|^p w⟩ / ⟨w⟩ of a potential model (module docstring)."""
    return loss_from_eta(eta(model, data), data.weights, kappa, p)


def sigma_from_eta(e: Array, weights: Array) -> Float[Array, ""]:
    """σ = (1/vol_Ω) ⟨|1 − η vol_Ω/vol_g| w⟩ (anchors.md), jit-friendly."""
    vol_omega = jnp.mean(weights)
    vol_g = jnp.mean(e * weights)
    return jnp.mean(jnp.abs(1.0 - e * vol_omega / vol_g) * weights) / vol_omega


def fs_metrics(variety, data: TrainingSet) -> Complex[Array, "N d d"]:
    """Pulled-back Fubini–Study metrics J g_FS Jᴴ at all points."""
    from ntkflow.cy.fubini_study import FubiniStudy

    fs = FubiniStudy(variety.ambient)
    return jax.vmap(lambda z, J: J @ fs.ambient_metric(z).astype(J.dtype) @ J.conj().T)(
        data.z, data.jac
    )


def fs_kappa(variety, data: TrainingSet) -> float:
    """κ = vol_FS / vol_Ω on the given points (the class of J is that of Fubini–Study)."""
    e = eta_from_metrics(fs_metrics(variety, data), data.omega_sq)
    return float(jnp.sum(e * data.weights) / jnp.sum(data.weights))


@dataclasses.dataclass(frozen=True)
class Optimiser:
    """An optax optimiser over the trainable part of a model, one step per call.

    ``kind="lbfgs"``: full-batch L-BFGS with zoom line search on ``fit`` (each step is one
    L-BFGS iteration). ``kind="adam"``: one epoch of Adam over shuffled batches; the shuffle
    key is ``fold_in(key, step)`` so a resumed run sees the same batches.
    """

    kind: str = "lbfgs"
    learning_rate: float = 1e-3
    batch_size: int = 2000
    memory_size: int = 20

    def __post_init__(self):
        if self.kind not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {self.kind!r}")

    def transform(self) -> optax.GradientTransformation:
        if self.kind == "lbfgs":
            return optax.lbfgs(memory_size=self.memory_size)
        return optax.adam(self.learning_rate)


def make_step(optimiser: Optimiser, static, kappa: float, p: int):
    """A jitted ``(params, opt_state, data, key) -> (params, opt_state, loss)``: one
    :func:`ntkflow.flows.make_step` update (L-BFGS) or one epoch of them (Adam)."""
    tx = optimiser.transform()

    def loss_fn(params, data):
        return monge_ampere_loss(eqx.combine(params, static), data, kappa, p)

    one = flow_step(loss_fn, tx, lbfgs=optimiser.kind == "lbfgs")
    if optimiser.kind == "lbfgs":
        return tx, jax.jit(lambda params, opt_state, data, key: one(params, opt_state, data))

    bs = optimiser.batch_size

    @jax.jit
    def step(params, opt_state, data, key):
        n = len(data) // bs
        perm = jax.random.permutation(key, len(data))[: n * bs].reshape(n, bs)

        def body(carry, idx):
            params, opt_state, value = one(*carry, data.take(idx))
            return (params, opt_state), value

        (params, opt_state), values = jax.lax.scan(body, (params, opt_state), perm)
        return params, opt_state, jnp.mean(values)

    return tx, step


def check_finite(value, what: str, step: int) -> None:
    if not np.isfinite(np.asarray(value)).all():
        raise TrainingError(f"step {step}: {what} is not finite; stopping")


__all__ = [
    "Optimiser",
    "TrainingError",
    "TrainingSet",
    "det_metric",
    "eta",
    "eta_from_metrics",
    "fs_kappa",
    "fs_metrics",
    "loss_from_eta",
    "make_step",
    "monge_ampere_loss",
    "pointwise_loss",
    "sigma_from_eta",
]
