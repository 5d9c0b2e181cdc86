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
from ntkflow.cy.potential import (
    CorrectedPotential,
    SectionPotential,
    algebraic_metric,
    section_features,
)
from ntkflow.cy.sections import section_degree
from ntkflow.flows.optimise import make_step as flow_step
from ntkflow.nets.trainable import trainable
from ntkflow.parallel import (
    active_mesh,
    device_count,
    map_blocks,
    rows_per_device,
    shard_local_rows,
    shard_rows,
)


class TrainingError(RuntimeError):
    """Training produced a non-finite loss or metric."""


class TrainingSet(eqx.Module):
    """What the Monge–Ampère loss needs at each point: z, the embedding Jacobian J,
    |Ω|² and the integration weight w; for the algebraic ansätze also the section features
    X = [s | ∂s Jᵀ] (:func:`section_features`), which do not change in training and are
    computed once (the sections are most of the cost of one evaluation)."""

    z: Complex[Array, "N n"]
    jac: Complex[Array, "N d n"]
    omega_sq: Float[Array, " N"]
    weights: Float[Array, " N"]
    features: Complex[Array, "N Nk d1"] | None = None

    @classmethod
    def from_points(
        cls, variety, points: PointSet, dtype=jnp.float64, exponents=None
    ) -> TrainingSet:
        """The training set on ``points``; with ``exponents`` (a section basis) also the
        section features, in chunks sized by the memory budget."""
        from ntkflow.memory import map_chunked

        cdtype = jnp.complex64 if dtype == jnp.float32 else jnp.complex128
        jac = jax.jit(jax.vmap(lambda z, p, e: pullback_jacobian(variety, z, p, e)))(
            points.z, points.patch, points.elim
        )
        z = jnp.asarray(points.z, cdtype)
        jac = jnp.asarray(jac, cdtype)
        features = None
        if exponents is not None:
            exps = jnp.asarray(exponents)
            k = section_degree(np.asarray(exponents))
            features = jnp.asarray(
                map_chunked(lambda a, b: section_features(exps, k, a, b), z, jac), cdtype
            )
        return cls(
            z=z,
            jac=jac,
            omega_sq=jnp.asarray(points.omega_sq, dtype),
            weights=jnp.asarray(points.weights, dtype),
            features=features,
        )

    def __len__(self) -> int:
        return int(self.z.shape[0])

    def take(self, idx) -> TrainingSet:
        return jax.tree.map(lambda a: a[idx], self)

    def shard(self, mesh) -> TrainingSet:
        """Row-sharded on ``mesh`` (:func:`ntkflow.parallel.shard_rows`; padding rows weigh 0)."""
        return shard_rows(self, mesh, len(self), zero=_weights)

    def shard_local(self, mesh, n: int) -> TrainingSet:
        """The row-sharded set of ``n`` rows of which this process holds these, its share
        (:func:`ntkflow.parallel.shard_local_rows`; padding rows weigh 0)."""
        return shard_local_rows(self, mesh, n, zero=_weights)


def _weights(data: TrainingSet):
    return data.weights


def batch_metrics(model, data: TrainingSet) -> Complex[Array, "N d d"]:
    """The pulled-back metrics at all points of ``data``: from the stored section features
    for an algebraic ansatz on the same sections (H formed once per call), else
    ``model.pullback_metric`` (e.g. Fubini–Study measured on a degree-k training set)."""
    if isinstance(model, CorrectedPotential) and data.features is not None:
        g0 = batch_metrics(model.base, data)
        dg = jax.vmap(model.correction_metric)(data.z, data.jac)
        return g0 + dg.astype(g0.dtype)
    if (
        data.features is not None
        and isinstance(model, SectionPotential)
        and data.features.shape[-2] == model.exponents.shape[0]  # features of its sections
    ):
        X = data.features.astype(model.whitening.dtype)
        operand = model.gram_operand()  # formed once, not per point
        return jax.vmap(lambda x: algebraic_metric(model, x, lambda y: model.gram(y, operand)))(X)
    return jax.vmap(model.pullback_metric)(data.z, data.jac)


def det_metric(model, data: TrainingSet) -> Float[Array, " N"]:
    """det g_{a b̄} of the pulled-back metric at every point (real part; g is Hermitian)."""
    return eta_from_metrics(batch_metrics(model, data), 1.0)


def eta(model, data: TrainingSet, chunk: int | None = None, mesh=None) -> Float[Array, " N"]:
    """η = det g / |Ω|², optionally in chunks of ``chunk`` points to bound memory, and with
    ``mesh`` on the rows each device holds (:func:`ntkflow.parallel.map_blocks`).

    Chunks run under ``lax.map`` with each chunk rematerialised (``jax.checkpoint``), so the
    gradient of a loss of η also holds one chunk's intermediates at a time, not N points'.
    """
    mesh = active_mesh(mesh)
    if mesh is None and (chunk is None or len(data) <= chunk):
        return det_metric(model, data) / data.omega_sq
    params, static = eqx.partition(model, eqx.is_array)
    one = lambda q, d: det_metric(eqx.combine(q, static), d) / d.omega_sq
    return map_blocks(one, params, data, chunk=chunk, mesh=mesh)


def loss_chunk(model, data: TrainingSet, kappa: float, p: int = 2, mesh=None) -> int:
    """Points per chunk (per device with a ``mesh``) of the Monge–Ampère loss and its gradient
    within the memory budget (:func:`ntkflow.memory.chunk_size` on the compiled
    value-and-gradient of one batch)."""
    from ntkflow.memory import chunk_size

    params, static = eqx.partition(model, trainable(model))

    def batched(d):
        f = lambda q: loss_from_eta(
            det_metric(eqx.combine(q, static), d) / d.omega_sq, d.weights, kappa, p
        )
        return jax.value_and_grad(f)(params)

    return chunk_size(batched, data, max_chunk=rows_per_device(len(data), mesh))


def pointwise_loss(e: Array, kappa: float, p: int = 2) -> Array:
    """ℓ = |1 − η/κ|^p at each point (the Monge–Ampère residual; module docstring)."""
    return jnp.abs(1.0 - e / kappa) ** p


def loss_from_eta(e: Array, weights: Array, kappa: float, p: int = 2) -> Float[Array, ""]:
    """l_p = ⟨|1 − η/κ|^p w⟩ / ⟨w⟩ from η at the points (module docstring)."""
    return jnp.sum(pointwise_loss(e, kappa, p) * weights) / jnp.sum(weights)


def eta_from_metrics(g: Complex[Array, "N d d"], omega_sq: Float[Array, " N"]) -> Array:
    """η = det g / |Ω|² from the pulled-back metrics g_{a b̄} at the points."""
    return jnp.real(small_det(g)) / omega_sq


def small_det(g: Array) -> Array:
    """det of a batch of d × d matrices: the Leibniz formula for d ≤ 3 (a few products; the
    batched LU of ``jnp.linalg.det`` and its gradient cost more than the metric itself on
    CPU), LU beyond."""
    d = g.shape[-1]
    if d == 1:
        return g[..., 0, 0]
    if d == 2:
        return g[..., 0, 0] * g[..., 1, 1] - g[..., 0, 1] * g[..., 1, 0]
    if d == 3:
        c0 = g[..., 1, 1] * g[..., 2, 2] - g[..., 1, 2] * g[..., 2, 1]
        c1 = g[..., 1, 0] * g[..., 2, 2] - g[..., 1, 2] * g[..., 2, 0]
        c2 = g[..., 1, 0] * g[..., 2, 1] - g[..., 1, 1] * g[..., 2, 0]
        return g[..., 0, 0] * c0 - g[..., 0, 1] * c1 + g[..., 0, 2] * c2
    return jnp.linalg.det(g)


def monge_ampere_loss(
    model, data: TrainingSet, kappa: float, p: int = 2, chunk: int | None = None, mesh=None
) -> Float[Array, ""]:
    """l_p = ⟨|1 − η/κ|^p w⟩ / ⟨w⟩ of a potential model (module docstring); η in chunks of
    ``chunk`` points, on the devices of ``mesh`` (:func:`eta`; the sums are all-reduced)."""
    return loss_from_eta(eta(model, data, chunk, mesh), data.weights, kappa, p)


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
    decay: float = 1.0  # Adam's learning rate × decay after every epoch_steps steps
    epoch_steps: int = 1

    def __post_init__(self):
        if self.kind not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {self.kind!r}")

    def transform(self) -> optax.GradientTransformation:
        if self.kind == "lbfgs":
            return optax.lbfgs(memory_size=self.memory_size)
        return optax.adam(
            optax.exponential_decay(self.learning_rate, max(self.epoch_steps, 1), self.decay)
        )


def make_step(
    optimiser: Optimiser,
    static,
    kappa: float,
    p: int,
    chunk: int | None = None,
    mesh=None,
    rows: int | None = None,
):
    """A jitted ``(params, opt_state, data, key[, frozen]) -> (params, opt_state, loss)``: one
    :func:`ntkflow.flows.make_step` update (L-BFGS) or one epoch of them (Adam); the loss and
    its gradient in chunks of ``chunk`` points (:func:`loss_chunk`), data-parallel over the
    devices of ``mesh`` (the data row-sharded on it, Adam's batch a multiple of its size; Adam
    shuffles the first ``rows`` rows, the real points before any padding, so the batches do not
    depend on the number of devices)."""
    tx = optimiser.transform()

    def loss_fn(params, data, frozen=None):
        # ``frozen``: arrays of the model that this stage does not train but that change
        # between stages (e.g. the trained algebraic part under a φ correction)
        model = (
            eqx.combine(params, static) if frozen is None else eqx.combine(params, frozen, static)
        )
        return monge_ampere_loss(model, data, kappa, p, chunk, mesh)

    one = flow_step(loss_fn, tx, lbfgs=optimiser.kind == "lbfgs")
    if optimiser.kind == "lbfgs":
        return tx, jax.jit(
            lambda params, opt_state, data, key, frozen=None: one(params, opt_state, data, frozen)
        )

    size = device_count(mesh)
    bs = max(optimiser.batch_size - optimiser.batch_size % size, size)

    @jax.jit
    def step(params, opt_state, data, key, frozen=None):
        m = rows or len(data)
        n = m // bs
        perm = jax.random.permutation(key, m)[: n * bs].reshape(n, bs)

        def body(carry, idx):
            params, opt_state, value = one(*carry, data.take(idx), frozen)
            return (params, opt_state), value

        (params, opt_state), values = jax.lax.scan(body, (params, opt_state), perm)
        return params, opt_state, jnp.mean(values)

    return tx, step


def check_finite(value, what: str, step: int) -> None:
    if not np.isfinite(np.asarray(value)).all():
        raise TrainingError(f"step {step}: {what} is not finite; stopping")
