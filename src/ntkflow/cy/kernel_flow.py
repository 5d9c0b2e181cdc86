"""The infinite-width (frozen-kernel) Kähler flow of a potential (paper.md §5; talk).
dK(z)/dt = −Σ_p Θ_{a b̄}(z, z_p) δl/δg_{a b̄}(z_p);  g_t(z) = g_FS(z) + Ψ(z)(Ψᵀ C_t).
Derivation: docs/derivations.md#cy-kernel_flow."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

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
from ntkflow.kernels import RandomFourierFeatures, tangent_maps
from ntkflow.memory import chunk_size

KERNELS = ("gaussian", "mlp-ntk")


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

    def __post_init__(self):
        check_fields(self)


def packed_eta(p: jax.Array, omega_sq: jax.Array, d: int) -> jax.Array:
    """η = det g/|Ω|² for packed metrics p (N, d²)."""
    return eta_from_metrics(jax.vmap(lambda q: unpack_hermitian(q, d))(p), omega_sq)


class FeatureKernel(eqx.Module):
    """A frozen kernel as features: ``apply(a, data)`` = Ψ(data) a (packed metric changes,
    (N, d²)) and ``transpose(v, data)`` = Ψ(data)ᵀ v; ``dim`` = number of weights."""

    features: dict
    fn: Callable = eqx.field(static=True)
    fn_t: Callable = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def apply(self, a, key: str):
        return self.fn(self.features[key], a)

    def transpose(self, v, key: str):
        return self.fn_t(self.features[key], v)


def gaussian_features(
    variety, sets: dict, lengthscale: float, n_features: int, key
) -> FeatureKernel:
    """Random-Fourier metric features Ψ_p ∈ R^{R × d²} at every point of each set."""
    rf = RandomFourierFeatures(n_spectral_inputs(variety.ambient), n_features, lengthscale, key=key)

    @jax.jit
    def feats(z, J):
        def one(zz, jj):
            u, D, H = spectral_jets(zz, jj, variety.ambient)
            return jax.vmap(pack_hermitian)(rf.metric_features(u, D, H))  # (R, d²)

        return jax.lax.map(lambda b: one(*b), (z, J), batch_size=256)

    psi = {k: feats(s.z, s.jac) for k, s in sets.items()}
    return FeatureKernel(
        psi,
        lambda P, a: jnp.einsum("nrk,r->nk", P, a),
        lambda P, v: jnp.einsum("nrk,nk->r", P, v),
        n_features,
    )


def mlp_ntk_features(variety, sets: dict, width: int, depth: int, key) -> FeatureKernel:
    """The linearised NTK-parameterised φ-MLP: tangent features J = ∂p(g)/∂θ at
    initialisation (:func:`chunked_tangent_maps`; Θ = J Jᵀ, never formed)."""
    from ntkflow.nets import MLP

    phi = MLP(n_spectral_inputs(variety.ambient), "scalar", width, depth, "gelu", key=key)
    out = MetricOutput(FubiniStudy(variety.ambient))
    maps = {k: chunked_tangent_maps(out, phi, (s.z, s.jac)) for k, s in sets.items()}
    dim = int(maps["train"][0].shape[0])
    return FeatureKernel(maps, lambda m, a: m[1](a), lambda m, v: m[2](v), dim)


def chunked_tangent_maps(fn, model, xs, budget: int | None = None):
    """(θ₀, w ↦ J w, v ↦ Jᵀ v) of :func:`ntkflow.kernels.tangent_maps` over the points ``xs``
    in chunks whose size follows from the memory budget (:func:`ntkflow.memory.chunk_size` on
    the compiled vjp of one chunk), evaluated by ``lax.map``/``lax.scan`` so the maps stay
    traceable and memory is bounded at any number of points."""
    n = xs[0].shape[0]
    out = jax.eval_shape(lambda x: fn(model, x), jax.tree.map(lambda a: a[0], xs))
    v_spec = jax.ShapeDtypeStruct((n, *out.shape), out.dtype)
    vjp = lambda xb, vb: tangent_maps(fn, model, xb)[2](vb)
    chunk = chunk_size(vjp, xs, v_spec, budget=budget, max_chunk=n, probe=(8,))
    pad = (-n) % chunk  # padded points: copies of the last one in x, zero weight in v

    def blocks(a, fill):
        a = jnp.concatenate([a, jnp.repeat(a[-1:], pad, 0) if fill is None else fill(a[:pad])])
        return a.reshape(-1, chunk, *a.shape[1:])

    xb = jax.tree.map(lambda a: blocks(a, None), xs)
    flat = tangent_maps(fn, model, jax.tree.map(lambda a: a[:1], xs))[0]

    def apply(w):
        o = jax.lax.map(lambda b: tangent_maps(fn, model, b)[1](w), xb)
        return o.reshape(-1, *o.shape[2:])[:n]

    def transpose(v):
        step = lambda acc, bv: (acc + vjp(*bv), None)
        return jax.lax.scan(step, jnp.zeros_like(flat), (xb, blocks(v, jnp.zeros_like)))[0]

    return flat, apply, transpose


def run_kernel_flow(cfg: KernelFlowConfig, on_eval: Callable | None = None, points=None) -> dict:
    """Flow the potential with a frozen kernel; returns times, σ_train, σ_test, loss."""
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    X = variety_from_name(cfg.variety)
    d = X.dim
    key = jax.random.PRNGKey(cfg.seed)
    if points is None:
        points = sample_points(X, cfg.n_points + cfg.n_test, jax.random.fold_in(key, 0))
    tr, te = points.split(cfg.n_test)
    train, test = TrainingSet.from_points(X, tr), TrainingSet.from_points(X, te)
    kappa = fs_kappa(X, train)
    p0 = {
        k: jax.vmap(pack_hermitian)(fs_metrics(X, s)) for k, s in (("train", train), ("test", test))
    }
    fkey = jax.random.fold_in(key, 1)
    sets = {"train": train, "test": test}
    if cfg.kernel == "gaussian":
        fk = gaussian_features(X, sets, cfg.lengthscale, cfg.n_features, fkey)
    else:
        fk = mlp_ntk_features(X, sets, cfg.mlp_width, cfg.mlp_depth, fkey)
    return flow_features(
        fk, train, test, p0, kappa, d, cfg.steps, cfg.eval_every, cfg.dt_factor, on_eval
    )


def flow_features(fk, train, test, p0, kappa, d, steps, eval_every, dt_factor=1.0, on_eval=None):
    """Euler steps of dC/dt = −δl/δp on the training points, with p = p0 + Ψ(Ψᵀ C)."""
    loss_p = lambda p: loss_from_eta(packed_eta(p, train.omega_sq, d), train.weights, kappa, 2)
    sigma = lambda p, data: sigma_from_eta(packed_eta(p, data.omega_sq, d), data.weights)
    grad_p = jax.grad(loss_p)
    kernel = lambda C: fk.apply(fk.transpose(C, "train"), "train")  # J (Jᵀ C)

    @jax.jit
    def gn_matvec(w):  # Ψᵀ ∇²_p l Ψ w at C = 0 (Gauss–Newton operator of the flow)
        hv = jax.jvp(grad_p, (p0["train"],), (fk.apply(w, "train"),))[1]
        return fk.transpose(hv, "train")

    w0 = jax.random.normal(jax.random.PRNGKey(0), (fk.dim,), p0["train"].dtype)
    lam = float(power_iteration(gn_matvec, w0, 20))
    if not np.isfinite(lam) or lam <= 0:
        raise KernelFlowError(f"kernel flow: the kernel's largest eigenvalue is {lam}")
    dt = dt_factor / lam
    advance = jax.jit(
        lambda C, n: euler_flow(grad_p, kernel, p0["train"], C, dt, n), static_argnums=1
    )

    @jax.jit
    def evaluate(C):
        a = fk.transpose(C, "train")
        ptr = p0["train"] + fk.apply(a, "train")
        pte = p0["test"] + fk.apply(a, "test")
        return sigma(ptr, train), sigma(pte, test), loss_p(ptr)

    C = jnp.zeros_like(p0["train"])
    hist = {"time": [], "sigma_train": [], "sigma_test": [], "loss": []}
    done = 0
    for k in sorted({*range(0, steps + 1, eval_every), steps}):
        if k > done:
            C, done = advance(C, k - done), k
        st, se, lo = (float(x) for x in evaluate(C))
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
