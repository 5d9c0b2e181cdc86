"""Gain in loss vs geodesic distance for fixed kernels on the Fermat quintic (paper.md §6b).
gain(δ) = ℓ_before(z_e) / ℓ_after(z_e),  ℓ(z) = |1 − η(z)/κ|²,  η = det g/|Ω|².
Flow, kernels and evaluation points: docs/derivations.md#experiments-locality."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.kahler import local_embedding, omega_squared, pullback, pullback_jacobian
from ntkflow.cy.kahler_ntk import pack_hermitian
from ntkflow.cy.kernel_flow import packed_eta
from ntkflow.cy.potential import PhiPotential, n_spectral_inputs, spectral_inputs
from ntkflow.cy.train import TrainingSet, fs_kappa, fs_metrics, monge_ampere_loss
from ntkflow.cy.train import pointwise_loss as ma_pointwise
from ntkflow.experiments.feature_learning import finite_phi
from ntkflow.flows import euler_flow, make_step, power_iteration
from ntkflow.io.atomic import write_json
from ntkflow.kernels import gaussian_matrix
from ntkflow.kernels.analytic import mlp_kernel
from ntkflow.nets import trainable

KERNELS = ("delta", "gaussian", "relu-ntk")
DEFAULT_DISTANCES = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.2, 0.5)


@dataclasses.dataclass(frozen=True)
class LocalityConfig:
    """Points, distances, kernels and the finite network of the experiment."""

    variety: str = "fermat-quintic"
    n_train: int = 200
    n_eval: int = 40
    distances: tuple[float, ...] = DEFAULT_DISTANCES
    kernels: tuple[str, ...] = KERNELS
    delta_lengthscale: float = 1e-6
    gaussian_lengthscale: float = 1e-2
    relu_depth: int = 2
    flow_steps: int = 2000
    network: bool = True
    net_width: int = 64
    net_depth: int = 3
    net_steps: int = 1000
    net_learning_rate: float = 2e-3
    seed: int = 0

    def __post_init__(self):
        if self.n_train < 2:
            raise ValueError(f"locality: n_train must be >= 2, got {self.n_train}")
        if not 1 <= self.n_eval <= self.n_train:
            raise ValueError(f"locality: need 1 <= n_eval <= n_train, got {self.n_eval}")
        if not self.distances or min(self.distances) <= 0:
            raise ValueError(f"locality: distances must be positive, got {self.distances}")
        for k in self.kernels:
            if k not in KERNELS:
                raise ValueError(f"locality: unknown kernel {k!r}; known: {KERNELS}")
        if self.delta_lengthscale <= 0 or self.gaussian_lengthscale <= 0:
            raise ValueError("locality: kernel lengthscales must be > 0")
        if self.flow_steps < 1 or self.net_steps < 0:
            raise ValueError("locality: flow_steps must be >= 1 and net_steps >= 0")


def _lift(variety, z0, patch, elim, x):
    """z with free coordinates x, on X: 12 Newton steps on z_elim from z0 (chart of z0)."""
    return local_embedding(variety, z0, patch, elim, newton_steps=12)[0](x)


def _segment_length(variety, fs, z0, patch, elim, v, t, n_quad: int = 16):
    """FS length of x(s) = x0 + s v, s ∈ [0, t], lifted to X (Gauss–Legendre)."""
    x0 = local_embedding(variety, z0, patch, elim)[1]
    nodes, weights = np.polynomial.legendre.leggauss(n_quad)

    def speed(s):
        z = _lift(variety, z0, patch, elim, x0 + s * v)
        g = pullback(fs.ambient_metric(z), pullback_jacobian(variety, z, patch, elim))
        return jnp.sqrt(2.0 * jnp.real(jnp.vdot(v, g.T @ v)))

    s = 0.5 * t * (jnp.asarray(nodes) + 1.0)
    return 0.5 * t * jnp.sum(jnp.asarray(weights) * jax.vmap(speed)(s))


def displaced_point(variety, fs, z0, patch, elim, v, distance):
    """The point at FS arc length ``distance`` along the chart segment in direction v;
    returns (z, Newton residual). t is found by the fixed-point iteration t ← t·δ/L(t)."""
    t = jax.lax.fori_loop(
        0,
        8,
        lambda _, t: t * distance / _segment_length(variety, fs, z0, patch, elim, v, t),
        jnp.asarray(distance, jnp.real(z0).dtype),
    )
    z = _lift(variety, z0, patch, elim, local_embedding(variety, z0, patch, elim)[1] + t * v)
    return z, jnp.max(jnp.abs(variety.equations(z)))


def evaluation_points(variety, points, distances, key):
    """For each of the given training points and each distance: z (D, E, n), residual."""
    fs = FubiniStudy(variety.ambient)
    d = variety.dim
    v = jax.random.normal(key, (len(points), d, 2))
    v = v[..., 0] + 1j * v[..., 1]

    def unit(z0, patch, elim, vv):  # normalise v to FS speed 1 at z0
        g = pullback(fs.ambient_metric(z0), pullback_jacobian(variety, z0, patch, elim))
        return vv / jnp.sqrt(2.0 * jnp.real(jnp.vdot(vv, g.T @ vv)))

    v = jax.vmap(unit)(points.z, points.patch, points.elim, v)
    one = jax.jit(
        jax.vmap(
            lambda z0, p, e, vv, dist: displaced_point(variety, fs, z0, p, e, vv, dist),
            in_axes=(0, 0, 0, 0, None),
        )
    )
    zs, res = zip(
        *(one(points.z, points.patch, points.elim, v, float(dist)) for dist in distances),
        strict=True,
    )
    return jnp.stack(zs), jnp.stack(res)


def pointwise_loss(p, omega_sq, kappa, d):
    """ℓ = |1 − η/κ|², η = det g/|Ω|², for packed metrics p (N, d²) (:mod:`ntkflow.cy.train`)."""
    return ma_pointwise(packed_eta(p, omega_sq, d), kappa, 2)


def kernel_matrix(name: str, cfg: LocalityConfig, u1, u2):
    """k(u1_i, u2_j) for one of :data:`KERNELS` (direct differences for the Gaussians)."""
    if name in ("delta", "gaussian"):
        s = cfg.delta_lengthscale if name == "delta" else cfg.gaussian_lengthscale
        return gaussian_matrix(u1, u2, s)
    if name == "relu-ntk":
        return mlp_kernel(cfg.relu_depth, "relu", W_std=np.sqrt(2.0), b_std=0.1)(u1, u2)[1]
    raise ValueError(f"locality: unknown kernel {name!r}; known: {KERNELS}")


def flow_fixed_kernel(k_tt, p0, w, omega_sq, kappa, d, steps):
    """Euler steps of dh/dt = −K ∂L/∂p on the training points; returns the coefficients
    C (N, d²) with h = K C, the final training loss and the step size."""
    c, final, dt = _flow(k_tt, p0, w / jnp.sum(w), omega_sq, kappa, d, steps)
    if not np.isfinite(float(final)):
        raise FloatingPointError("locality: the kernel flow diverged (non-finite loss)")
    return c, float(final), float(dt)


@eqx.filter_jit
def _flow(k_tt, p0, wn, omega_sq, kappa, d: int, steps: int):
    def loss(p):
        return jnp.sum(wn * pointwise_loss(p, omega_sq, kappa, d))

    grad = jax.grad(loss)
    # the linearised flow operator K ∇²L at p0 (spectrum of K^½ ∇²L K^½)
    x0 = jax.random.normal(jax.random.PRNGKey(1), p0.shape, p0.dtype)
    lam = power_iteration(lambda x: k_tt @ jax.jvp(grad, (p0,), (x,))[1], x0, 31)
    dt = 1.0 / lam
    c = euler_flow(grad, lambda c: k_tt @ c, p0, jnp.zeros_like(p0), dt, steps)
    return c, loss(p0 + k_tt @ c), dt


def run_locality(
    cfg: LocalityConfig, out_dir: Path | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Run the experiment; returns distances, gains per kernel (and ``network``), metadata."""
    from ntkflow.cy.sampling import sample_points
    from ntkflow.cy.variety import variety_from_name

    t0 = time.perf_counter()
    say = progress or (lambda _name: None)
    X = variety_from_name(cfg.variety)
    d = X.dim
    key = jax.random.PRNGKey(cfg.seed)
    pts = sample_points(X, cfg.n_train, jax.random.fold_in(key, 0))
    train = TrainingSet.from_points(X, pts)
    kappa = fs_kappa(X, train)
    say("evaluation points")
    base = pts.take(np.arange(cfg.n_eval))
    z_e, resid = evaluation_points(X, base, cfg.distances, jax.random.fold_in(key, 1))
    D, E = len(cfg.distances), cfg.n_eval
    ok = np.asarray(resid) < 1e-10  # (D, E)
    patch = jnp.broadcast_to(base.patch, (D, E)).reshape(-1)
    elim = jnp.broadcast_to(base.elim, (D, E)).reshape(-1)
    zf = z_e.reshape(D * E, -1)
    fs_packed = lambda data: jax.vmap(pack_hermitian)(fs_metrics(X, data))  # packed FS metrics

    @jax.jit
    def at_points(z, patch, elim):
        jac = jax.vmap(lambda z, p, e: pullback_jacobian(X, z, p, e))(z, patch, elim)
        osq = jax.vmap(lambda z, e: omega_squared(X, z, e))(z, elim)
        u = jax.vmap(lambda z: spectral_inputs(z, X.ambient))(z)
        return jac, osq, u, fs_packed(TrainingSet(z, jac, osq, jnp.ones_like(osq)))

    jac_e, osq_e, u_e, p0_e = at_points(zf, patch, elim)
    p0_t = fs_packed(train)
    u_t = jax.vmap(lambda z: spectral_inputs(z, X.ambient))(train.z)
    before = np.asarray(pointwise_loss(p0_e, osq_e, kappa, d)).reshape(D, E)

    def gains(after):  # geometric mean of before / after at each distance
        ratio = before / np.maximum(np.asarray(after).reshape(D, E), 1e-300)
        return [float(np.exp(np.mean(np.log(ratio[i, ok[i]])))) for i in range(D)]

    out = {
        "distances": list(cfg.distances),
        "gains": {},
        "train_loss": {},
        "train_loss_initial": float(
            jnp.sum(train.weights * pointwise_loss(p0_t, train.omega_sq, kappa, d))
            / jnp.sum(train.weights)
        ),
    }
    for name in cfg.kernels:
        say(name)
        k_tt = kernel_matrix(name, cfg, u_t, u_t)
        c, final, _ = flow_fixed_kernel(
            k_tt, p0_t, train.weights, train.omega_sq, kappa, d, cfg.flow_steps
        )
        h_e = kernel_matrix(name, cfg, u_e, u_t) @ c
        out["gains"][name] = gains(pointwise_loss(p0_e + h_e, osq_e, kappa, d))
        out["train_loss"][name] = final
    if cfg.network:
        say("network")
        after, final = _train_network(cfg, X, train, kappa, zf, jac_e, osq_e)
        out["gains"]["network"] = gains(after)
        out["train_loss"]["network"] = final
    out["dropped"] = int((~ok).sum())
    out["config"] = dataclasses.asdict(cfg) | {  # the old key names, kept for readers
        "delta_width": cfg.delta_lengthscale,
        "gaussian_width": cfg.gaussian_lengthscale,
    }
    out["wall_seconds"] = time.perf_counter() - t0
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        out["figure"] = str(_figure(out, out_dir / "locality.png"))
        write_json(out_dir / "results.json", out, indent=1)
    return out


def _train_network(cfg, X, train, kappa, z_e, jac_e, osq_e):
    """Adam on the φ-MLP potential; returns the pointwise loss at z_e and the final loss."""
    phi = finite_phi(
        n_spectral_inputs(X.ambient), cfg.net_width, cfg.net_depth, jax.random.PRNGKey(cfg.seed + 7)
    )
    pot = PhiPotential(phi, FubiniStudy(X.ambient))
    params, static = eqx.partition(pot, trainable(pot))
    loss = lambda p: monge_ampere_loss(eqx.combine(p, static), train, kappa, 2)
    tx = optax.adam(cfg.net_learning_rate)
    step = make_step(loss, tx)

    def body(carry, _):
        p, s, v = step(*carry)
        return (p, s), v

    (params, _), _ = jax.jit(
        lambda p: jax.lax.scan(body, (p, tx.init(p)), None, length=cfg.net_steps)
    )(params)
    final = float(loss(params))
    if not np.isfinite(final):
        raise FloatingPointError("locality: network training produced a non-finite loss")
    model = eqx.combine(params, static)
    p_e = jax.vmap(lambda z, J: pack_hermitian(model.pullback_metric(z, J)))(z_e, jac_e)
    return pointwise_loss(p_e, osq_e, kappa, X.dim), final


def _figure(out: dict, path: Path) -> Path:
    from ntkflow.io.atomic import figure

    with figure(path, figsize=(5.5, 3.8)) as ax:
        for name, g in out["gains"].items():
            ls = "--" if name == "network" else "-"
            ax.plot(out["distances"], g, marker="o", ms=3, label=name, ls=ls)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="FS distance from the training points")
        ax.set_ylabel("gain  ℓ_before / ℓ_after")
        ax.set_title("fixed kernels: gain in loss vs distance", fontsize=10)
        ax.legend(fontsize=8)
    return path
