"""The infinite-width (frozen-kernel) Kähler flow of a potential (paper.md §5; talk).

    dK(z)/dt = −Σ_p Θ_{a b̄}(z, z_p) δl/δg_{a b̄}(z_p),
    l = ⟨|1 − η/κ|² w⟩/⟨w⟩,  η = det g/|Ω|²,  κ = vol_FS/vol_Ω  (:mod:`ntkflow.cy.train`),

with a frozen kernel of finite rank, Θ(z, z') = Σ_r ψ_r(z) ψ_r(z'), so that
Θ_{a b̄}(z, z') = Σ_r ψ_r(z) ∂'_a∂̄'_b ψ_r(z'). The state is the coefficient field over the
training points, C_p(t) = −∫₀ᵗ δl/δp(g(z_p)) dt' (in the real packing p of
:func:`ntkflow.cy.kahler_ntk.pack_hermitian`), so that at any point z, training or test,

    K_t(z) = K_FS(z) + ψ(z)·(Ψᵀ C_t),    g_t(z) = g_FS(z) + Ψ(z)(Ψᵀ C_t),

with Ψ_p = ∂p(g(z_p))/∂(feature weight): the kernel acts as J(Jᵀ v), never formed. Memory is
O(N·R·d²) for R features (10⁴ quintic points, R = 512: 0.37 GB).

Kernels (``kind``):

- ``"gaussian"``: k(u, u') = exp(−|u − u'|²/(2ℓ²)) on the spectral inputs, represented by R
  random Fourier features (:class:`ntkflow.kernels.RandomFourierFeatures`; an unbiased
  rank-R estimate of the analytic infinite-width kernel, exact as R → ∞);
- ``"mlp-ntk"``: the NTK of a wide NTK-parameterised φ-MLP frozen at initialisation (the
  linearised network), applied by jvp/vjp through the network.

Time stepping: explicit Euler on C (:func:`ntkflow.flows.euler_flow`) with step
dt = ``dt_factor``/λ_max, λ_max the largest eigenvalue of the Gauss–Newton operator
Ψᵀ ∇²_p l Ψ at t = 0 (:func:`ntkflow.flows.power_iteration`), so the discretised flow is
stable; flow time t = steps·dt.
"""

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
from ntkflow.kernels import RandomFourierFeatures, tangent_maps

KERNELS = ("gaussian", "mlp-ntk")


class KernelFlowError(RuntimeError):
    """The kernel flow produced a non-finite loss or metric."""


@dataclasses.dataclass(frozen=True)
class KernelFlowConfig:
    variety: str = "fermat-quintic"
    n_points: int = 10_000
    n_test: int = 2_000
    kernel: str = "gaussian"
    lengthscale: float = 1.0
    n_features: int = 512
    mlp_width: int = 512
    mlp_depth: int = 2
    steps: int = 200
    eval_every: int = 10
    dt_factor: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
        if self.n_points < 2 or self.n_test < 1:
            raise ValueError(f"need n_points >= 2, n_test >= 1, got {self.n_points}, {self.n_test}")
        if self.lengthscale <= 0:
            raise ValueError(f"the Gaussian lengthscale must be > 0, got {self.lengthscale}")
        if self.steps < 1 or self.eval_every < 1:
            raise ValueError("steps and eval_every must be >= 1")


def packed_eta(p: jax.Array, omega_sq: jax.Array, d: int) -> jax.Array:
    """η = det g/|Ω|² for packed metrics p (N, d²)."""
    return eta_from_metrics(jax.vmap(lambda q: unpack_hermitian(q, d))(p), omega_sq)


def packed_loss(p: jax.Array, data: TrainingSet, kappa: float, d: int) -> jax.Array:
    """l(p) = ⟨|1 − η/κ|² w⟩/⟨w⟩ as a function of the packed metrics p (N, d²)."""
    return loss_from_eta(packed_eta(p, data.omega_sq, d), data.weights, kappa, 2)


def packed_sigma(p, data: TrainingSet, d: int):
    return sigma_from_eta(packed_eta(p, data.omega_sq, d), data.weights)


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
    initialisation (:func:`ntkflow.kernels.tangent_maps`; Θ = J Jᵀ, never formed)."""
    from ntkflow.nets import MLP

    phi = MLP(n_spectral_inputs(variety.ambient), "scalar", width, depth, "gelu", key=key)
    out = MetricOutput(FubiniStudy(variety.ambient))
    maps = {k: tangent_maps(out, phi, (s.z, s.jac)) for k, s in sets.items()}
    dim = int(maps["train"][0].shape[0])
    return FeatureKernel(maps, lambda m, a: m[1](a), lambda m, v: m[2](v), dim)


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
    loss_p = lambda p: packed_loss(p, train, kappa, d)
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
        return packed_sigma(ptr, train, d), packed_sigma(pte, test, d), loss_p(ptr)

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


__all__ = [
    "KERNELS",
    "FeatureKernel",
    "KernelFlowConfig",
    "KernelFlowError",
    "flow_features",
    "gaussian_features",
    "mlp_ntk_features",
    "packed_eta",
    "packed_loss",
    "packed_sigma",
    "run_kernel_flow",
]
