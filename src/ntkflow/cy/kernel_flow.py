"""The infinite-width (frozen-kernel) Kähler flow of a potential (paper.md §5; talk).
dK(z)/dt = −Σ_p Θ_{a b̄}(z, z_p) δl/δg_{a b̄}(z_p);  g_t(z) = g_FS(z) + Ψ(z)(Ψᵀ C_t).
Derivation: docs/derivations.md#cy-kernel_flow.

The points are sharded by rows over a device mesh (:mod:`ntkflow.parallel`): Ψ a is
row-local, Ψᵀ v = Σ_p Ψ_pᵀ v_p is a point-sum all-reduced across the devices. Rows added to
make the point count a multiple of the device count carry weight 0; δl/δp vanishes there, so
C stays 0 on them and no sum changes. Data and features are arguments of the compiled
functions, never closed over (closed-over arrays are baked into the program as constants)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ntkflow import parallel
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.kahler_ntk import MetricOutput, pack_hermitian, spectral_jets, unpack_hermitian
from ntkflow.cy.potential import n_spectral_inputs
from ntkflow.cy.train import (
    TrainingSet,
    eta_from_metrics,
    fs_kappa,
    fs_metrics,
    loss_from_eta,
    sigma_from_eta,
)
from ntkflow.flows.kernel_flow import euler_flow, power_iteration
from ntkflow.io.config import check_fields, option
from ntkflow.kernels import RandomFourierFeatures
from ntkflow.memory import chunk_size, memory_budget

KERNELS = ("gaussian", "mlp-ntk")
FEATURE_CHUNK = 256  # points per block when the Gaussian features are computed


class KernelFlowError(RuntimeError):
    """The kernel flow produced a non-finite loss or metric."""


@dataclasses.dataclass(frozen=True)
class KernelFlowConfig:
    """The settings of ``ntkflow cy kernel-flow`` (help sentences and ranges: its options)."""

    variety: str = option("fermat-quintic", "Variety: a catalogue name (e.g. fermat-quintic).")
    n_points: int = option(10_000, "Training points.", min=2, flag="--points")
    n_test: int = option(2_000, "Held-out points for the test σ.", min=1, flag="--test-points")
    kernel: str = option("gaussian", "Kernel: gaussian or mlp-ntk.", choices=KERNELS)
    lengthscale: float = option(
        1.0,
        "Lengthscale of the Gaussian kernel on the spectral inputs.",
        min=0.0,
        min_exclusive=True,
    )
    n_features: int = option(512, "Random Fourier features of the Gaussian kernel.", min=1)
    mlp_width: int = option(512, "Width of the linearised φ-MLP.", min=1)
    mlp_depth: int = option(2, "Hidden layers of the linearised φ-MLP.", min=1)
    steps: int = option(200, "Euler steps of the flow.", min=1)
    eval_every: int = option(10, "Measure σ every this many steps.", min=1)
    dt_factor: float = option(1.0, "Time step as a fraction of 1/λ_max of the kernel.")
    seed: int = option(0, "Seed of the random number generator.")
    devices: int = option(0, "Devices to shard the points over (0: all local devices).", min=0)

    def __post_init__(self):
        check_fields(self)


def packed_eta(p: jax.Array, omega_sq: jax.Array, d: int) -> jax.Array:
    """η = det g/|Ω|² for packed metrics p (N, d²)."""
    return eta_from_metrics(jax.vmap(lambda q: unpack_hermitian(q, d))(p), omega_sq)


class FeatureKernel(eqx.Module):
    """A frozen kernel as features: ``apply(a, data)`` = Ψ(data) a (packed metric changes,
    (N, d²)) and ``transpose(v, data)`` = Ψ(data)ᵀ v; ``dim`` = number of weights.
    ``features[data]`` is a pytree of arrays (row-sharded or not), an argument of every
    compiled function that takes the kernel; ``fn(features[data], a)`` and
    ``fn_t(features[data], v)`` are the two products."""

    features: dict
    fn: Callable = eqx.field(static=True)
    fn_t: Callable = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def apply(self, a, key: str):
        return self.fn(self.features[key], a)

    def transpose(self, v, key: str):
        return self.fn_t(self.features[key], v)


def feature_dtype(n_rows: int, n_features: int, d: int, budget: int | None = None):
    """The storage type of the Gaussian features Ψ (n_rows, d², R): float64 while it fits the
    memory budget (:func:`ntkflow.memory.memory_budget`), else float32 (half the bytes; the
    products upcast each block to float64, so only Ψ itself is rounded, |δΨ| ≤ 2⁻²⁴|Ψ|, and
    Θ̃ = Ψ̃Ψ̃ᵀ is still an exact positive semi-definite kernel)."""
    budget = memory_budget() if budget is None else int(budget)
    return jnp.float64 if int(n_rows) * n_features * d * d * 8 <= budget else jnp.float32


def block_rows(n_features: int, d: int, budget: int | None = None) -> int:
    """Rows per block of the float32 products: a float64 copy of one block of Ψ takes at most
    an eighth of the memory budget."""
    budget = memory_budget() if budget is None else int(budget)
    return max(1, budget // (8 * n_features * d * d * 8))


def _dense_apply(Pb, a):
    # (Ψ a)_{p k} = Σ_r Ψ_{p k r} a_r: the (n d², R) matrix times a, in a's precision
    return (Pb.reshape(-1, Pb.shape[-1]).astype(a.dtype) @ a).reshape(Pb.shape[:2])


def _dense_transpose(Pb, v):
    # (Ψᵀ v)_r = Σ_p Σ_k Ψ_{p k r} v_{p k}: the row vector v times the (n d², R) matrix
    return (v.reshape(1, -1) @ Pb.reshape(-1, Pb.shape[-1]).astype(v.dtype))[0]


def _blocked_apply(P, a, rows: int | None):
    """Ψ a over the rows of P, ``rows`` at a time (all at once when None): each block is
    sliced in place (``dynamic_slice``) and upcast on its own, so no copy of P is made."""
    n = P.shape[0]
    nb = 0 if rows is None else n // rows
    if rows is None or n <= rows:
        return _dense_apply(P, a)
    blk = lambda i: _dense_apply(jax.lax.dynamic_slice_in_dim(P, i * rows, rows), a)
    parts = [jax.lax.map(blk, jnp.arange(nb)).reshape(nb * rows, P.shape[1])]
    if nb * rows < n:
        parts.append(_dense_apply(P[nb * rows :], a))
    return jnp.concatenate(parts) if len(parts) > 1 else parts[0]


def _blocked_transpose(P, v, rows: int | None):
    """Ψᵀ v = Σ_blocks Ψ_bᵀ v_b over the rows of P (blocks as in :func:`_blocked_apply`)."""
    n = P.shape[0]
    nb = 0 if rows is None else n // rows
    if rows is None or n <= rows:
        return _dense_transpose(P, v)
    whole = nb * rows
    part = lambda i: _dense_transpose(
        jax.lax.dynamic_slice_in_dim(P, i * rows, rows),
        jax.lax.dynamic_slice_in_dim(v, i * rows, rows),
    )
    init = _dense_transpose(P[whole:], v[whole:]) if whole < n else part(0)
    return jax.lax.fori_loop(0 if whole < n else 1, nb, lambda i, acc: acc + part(i), init)


def _rff_apply(P, a, rows, mesh):
    # Ψ a is row-local: each device multiplies its own rows (map_blocks, one call per device)
    fn = lambda q, Pb: _blocked_apply(Pb, q, rows)
    return parallel.map_blocks(fn, a, P, chunk=None, mesh=mesh, remat=False)


def _rff_transpose(P, v, rows, mesh):
    # Ψᵀ v is a point-sum: each device sums its own rows, then all-reduced over the mesh
    fn = lambda _, Pb, vb: _blocked_transpose(Pb, vb, rows)
    return parallel.point_sum(fn, None, P, v, chunk=None, mesh=mesh)


def gaussian_kernel(features: dict, mesh=None, budget: int | None = None) -> FeatureKernel:
    """The :class:`FeatureKernel` of given Gaussian features Ψ (per set: (N, d², R) arrays,
    or ``jax.ShapeDtypeStruct``): Θ(x, x') = Ψ(x) Ψ(x')ᵀ. The feature axis r is last, so
    Ψ a and Ψᵀ v are products with the (N d², R) matrix as it lies in memory (no transposed
    copy of Ψ). Features stored in float64 are multiplied whole (one product per device);
    float32 features in blocks of :func:`block_rows` rows, each upcast to float64."""
    shape = features["train"].shape
    dd, r = shape[1], shape[2]
    d = int(round(dd**0.5))
    low = features["train"].dtype != jnp.float64
    rows = block_rows(r, d, budget) if low else None
    return FeatureKernel(
        features,
        functools.partial(_rff_apply, rows=rows, mesh=mesh),
        functools.partial(_rff_transpose, rows=rows, mesh=mesh),
        r,
    )


def gaussian_features(
    variety, sets: dict, lengthscale: float, n_features: int, key, mesh=None, budget=None
) -> FeatureKernel:
    """Random-Fourier metric features Ψ_p ∈ R^{d² × R} at every point of each set,
    Ψ_{p · r} = pack(∂_a ∂̄_b ψ_r(u(z_p))) (:meth:`RandomFourierFeatures.metric_features`),
    computed on each device for its own rows in blocks of ``FEATURE_CHUNK`` points. Stored in
    float64 while all sets' features fit the memory budget, else in float32
    (:func:`feature_dtype`); ``budget`` defaults to :func:`ntkflow.memory.memory_budget`."""
    rf = RandomFourierFeatures(n_spectral_inputs(variety.ambient), n_features, lengthscale, key=key)
    d = variety.dim
    rows = sum(int(s.z.shape[0]) for s in sets.values())
    dtype = feature_dtype(rows, n_features, d, budget)

    def block(q, z, J):
        def one(zz, jj):
            u, D, H = spectral_jets(zz, jj, variety.ambient)
            return jax.vmap(pack_hermitian)(q.metric_features(u, D, H)).T  # (d², R)

        return jax.vmap(one)(z, J).astype(dtype)

    feats = jax.jit(
        lambda q, z, J: parallel.map_blocks(
            block, q, z, J, chunk=FEATURE_CHUNK, mesh=mesh, remat=False
        )
    )
    q = parallel.replicate(rf, mesh)
    psi = {k: feats(q, s.z, s.jac) for k, s in sets.items()}
    return gaussian_kernel(psi, mesh, budget)


def mlp_ntk_features(
    variety, sets: dict, width: int, depth: int, key, mesh=None, budget=None
) -> FeatureKernel:
    """The linearised NTK-parameterised φ-MLP: tangent features J = ∂p(g)/∂θ at
    initialisation (:func:`chunked_tangent_maps`; Θ = J Jᵀ, never formed). The features of
    a set are (θ₀, z, J_emb): the tangent maps are recomputed blockwise at every product."""
    from ntkflow.nets import MLP

    phi = MLP(n_spectral_inputs(variety.ambient), "scalar", width, depth, "gelu", key=key)
    out = MetricOutput(FubiniStudy(variety.ambient))
    train = sets["train"]
    theta, apply, transpose = chunked_tangent_maps(
        out, phi, (train.z, train.jac), budget=budget, mesh=mesh
    )
    theta = parallel.replicate(theta, mesh)
    feats = {k: (theta, s.z, s.jac) for k, s in sets.items()}
    return FeatureKernel(
        feats,
        lambda m, a: apply(m[0], a, m[1:]),
        lambda m, v: transpose(m[0], v, m[1:]),
        int(theta.shape[0]),
    )


def chunked_tangent_maps(fn, model, xs, budget: int | None = None, mesh=None):
    """(θ₀, (θ, w, xs) ↦ J w, (θ, v, xs) ↦ Jᵀ v) with J_(a,m),I = ∂fn(model_θ, x_a)_m/∂θ_I
    (:func:`ntkflow.kernels.tangent_maps`) over rows ``xs`` (a tuple of arrays with N rows,
    row-sharded on ``mesh`` when given). J w is row-local, each device mapping its own rows
    in blocks (:func:`ntkflow.parallel.map_blocks`); Jᵀ v = Σ_a J_aᵀ v_a is a sum of block
    vjps all-reduced over the mesh (:func:`ntkflow.parallel.point_sum`; padded rows must
    carry v = 0). The block size follows from the memory budget per device
    (:func:`ntkflow.memory.chunk_size` on the compiled vjp of one block). θ, the rows and
    w/v are arguments, so the maps are traceable and nothing large is closed over."""
    from ntkflow.nets.trainable import trainable

    params, static = eqx.partition(model, trainable(model))
    flat, unravel = ravel_pytree(params)
    out = lambda t, xb: jax.vmap(lambda x: fn(eqx.combine(unravel(t), static), x))(xb)
    jvp = lambda t, w, *xb: jax.jvp(lambda s: out(s, xb), (t,), (w,))[1]
    vjp = lambda t, *r: jax.vjp(lambda s: out(s, r[:-1]), t)[1](r[-1])[0]
    # Inside shard_map θ is device-invariant, and the vjp of an invariant input is already
    # all-reduced; the block vjps are taken at a per-device copy of θ instead, so that the
    # one psum of point_sum adds each device's Σ_a J_aᵀ v_a exactly once.
    mesh = parallel.active_mesh(mesh)
    per_device = (
        (lambda t: t) if mesh is None else (lambda t: jax.lax.pcast(t, parallel.AXIS, to="varying"))
    )
    local_vjp = lambda t, *r: vjp(per_device(t), *r)

    n = int(xs[0].shape[0])
    local = parallel.rows_per_device(n, mesh)
    o = jax.eval_shape(lambda x: fn(model, x), jax.tree.map(lambda a: a[0], xs))
    spec = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype)
    v_spec = jax.ShapeDtypeStruct((n, *o.shape), o.dtype)
    per = lambda *r: vjp(flat, *r)
    chunk = chunk_size(
        per, *jax.tree.map(spec, tuple(xs)), v_spec, budget=budget, max_chunk=local, probe=(8,)
    )

    def apply(t, w, rows):
        return parallel.map_blocks(
            lambda q, *xb: jvp(q[0], q[1], *xb),
            (t, w),
            *rows,
            chunk=chunk,
            mesh=mesh,
            remat=False,
        )

    def transpose(t, v, rows):
        return parallel.point_sum(local_vjp, t, *rows, v, chunk=chunk, mesh=mesh)

    return flat, apply, transpose


def _train_loss(p, data: TrainingSet, kappa, d: int):
    """l = ⟨|1 − η/κ|² w⟩/⟨w⟩ of packed metrics p on the points of ``data``."""
    return loss_from_eta(packed_eta(p, data.omega_sq, d), data.weights, kappa, 2)


def euler_steps(fk: FeatureKernel, train: TrainingSet, p0, C, kappa, dt, d: int, steps: int):
    """``steps`` Euler steps C ← C − dt δl/δp(p0 + Ψ(Ψᵀ C)) on the training points
    (:func:`ntkflow.flows.kernel_flow.euler_flow`; eq. 1.2 with Θ = ΨΨᵀ)."""
    grad = jax.grad(lambda p: _train_loss(p, train, kappa, d))
    kernel = lambda c: fk.apply(fk.transpose(c, "train"), "train")  # Ψ (Ψᵀ c)
    return euler_flow(grad, kernel, p0, C, dt, steps)


def gauss_newton_lambda(fk: FeatureKernel, train: TrainingSet, p0, w0, kappa, d: int, iters=20):
    """λ_max of Ψᵀ ∇²_p l Ψ at C = 0 (the Gauss–Newton operator of the flow) by power
    iteration (:func:`ntkflow.flows.kernel_flow.power_iteration`)."""
    grad = jax.grad(lambda p: _train_loss(p, train, kappa, d))

    def matvec(w):
        return fk.transpose(jax.jvp(grad, (p0,), (fk.apply(w, "train"),))[1], "train")

    return power_iteration(matvec, w0, iters)


def evaluate_flow(fk: FeatureKernel, train: TrainingSet, test: TrainingSet, p0: dict, C, kappa, d):
    """(σ_train, σ_test, l_train) of p = p0 + Ψ(Ψᵀ C) on the training and held-out points."""
    a = fk.transpose(C, "train")
    ptr = p0["train"] + fk.apply(a, "train")
    pte = p0["test"] + fk.apply(a, "test")
    sigma = lambda p, s: sigma_from_eta(packed_eta(p, s.omega_sq, d), s.weights)
    return sigma(ptr, train), sigma(pte, test), _train_loss(ptr, train, kappa, d)


_euler_jit = jax.jit(euler_steps, static_argnames=("d", "steps"))
_lambda_jit = jax.jit(gauss_newton_lambda, static_argnames=("d", "iters"))
_evaluate_jit = jax.jit(evaluate_flow, static_argnames=("d",))


def run_kernel_flow(
    cfg: KernelFlowConfig, on_eval: Callable | None = None, points=None, mesh=None
) -> dict:
    """Flow the potential with a frozen kernel; returns times, σ_train, σ_test, loss (and the
    coefficients C of the ``cfg.n_points`` training points). The points are sharded over
    ``mesh`` (default: :func:`ntkflow.parallel.point_mesh` of ``cfg.devices``)."""
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    if mesh is None:
        mesh = parallel.point_mesh(cfg.devices or None)
    X = variety_from_name(cfg.variety)
    d = X.dim
    key = jax.random.PRNGKey(cfg.seed)
    if points is None:
        points = sample_points(X, cfg.n_points + cfg.n_test, jax.random.fold_in(key, 0))
    tr, te = points.split(cfg.n_test)
    train, test = TrainingSet.from_points(X, tr), TrainingSet.from_points(X, te)
    n = int(train.weights.shape[0])
    kappa = fs_kappa(X, train)
    p0 = {
        k: jax.vmap(pack_hermitian)(fs_metrics(X, s)) for k, s in (("train", train), ("test", test))
    }
    p0 = {k: parallel.shard_rows(v, mesh) for k, v in p0.items()}
    sets = {"train": train.shard(mesh), "test": test.shard(mesh)}
    fkey = jax.random.fold_in(key, 1)
    if cfg.kernel == "gaussian":
        fk = gaussian_features(X, sets, cfg.lengthscale, cfg.n_features, fkey, mesh)
    else:
        fk = mlp_ntk_features(X, sets, cfg.mlp_width, cfg.mlp_depth, fkey, mesh)
    hist = flow_features(
        fk,
        sets["train"],
        sets["test"],
        p0,
        kappa,
        d,
        cfg.steps,
        cfg.eval_every,
        cfg.dt_factor,
        on_eval,
    )
    hist["coefficients"] = parallel.gather(hist["coefficients"])[:n]
    return hist


def flow_features(fk, train, test, p0, kappa, d, steps, eval_every, dt_factor=1.0, on_eval=None):
    """Euler steps of dC/dt = −δl/δp on the training points, with p = p0 + Ψ(Ψᵀ C). The
    inputs may be row-sharded with zero-weight padding rows (:meth:`TrainingSet.shard`);
    the returned ``coefficients`` then include those rows (C = 0 there)."""
    kappa = jnp.asarray(kappa, p0["train"].dtype)
    w0 = jax.random.normal(jax.random.PRNGKey(0), (fk.dim,), p0["train"].dtype)
    lam = float(_lambda_jit(fk, train, p0["train"], w0, kappa, d=d))
    if not np.isfinite(lam) or lam <= 0:
        raise KernelFlowError(f"kernel flow: the kernel's largest eigenvalue is {lam}")
    dt = dt_factor / lam
    dt_arg = jnp.asarray(dt, p0["train"].dtype)

    C = jnp.zeros_like(p0["train"])
    hist = {"time": [], "sigma_train": [], "sigma_test": [], "loss": []}
    done = 0
    for k in sorted({*range(0, steps + 1, eval_every), steps}):
        if k > done:
            C = _euler_jit(fk, train, p0["train"], C, kappa, dt_arg, d=d, steps=k - done)
            done = k
        st, se, lo = (float(x) for x in _evaluate_jit(fk, train, test, p0, C, kappa, d=d))
        if not all(np.isfinite([st, se, lo])):
            raise KernelFlowError(f"kernel flow: non-finite σ or loss at step {k} (t={k * dt:.3g})")
        for n, v in zip(
            ("time", "sigma_train", "sigma_test", "loss"), (k * dt, st, se, lo), strict=True
        ):
            hist[n].append(v)
        if on_eval is not None:
            on_eval(k, hist)
    hist["dt"] = dt
    hist["lambda_max"] = lam
    hist["coefficients"] = C
    return hist
