"""The function-space metric flow with a frozen kernel (paper §2, eqs. 1.1/1.2).
g_t(x) = g_ref(x) + Σ_a Θ(x, x_a) · α_a(t),  dα_a/dt = −∂L/∂g(x_a).
Derivation: docs/derivations.md#flows-kernel_flow."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..kernels.diagnostics import as_matrix
from .losses import Loss, MetricRegression, loss_from_jets

Kernel = Callable[[Float[Array, " d"], Float[Array, " d"]], Float[Array, "n n n n"]]


class FlowError(RuntimeError):
    """A flow stopped on bad input (NaN, non-PD metric, kernel not PSD); the last good state
    and its time are attached as ``.last_good`` and ``.last_time`` (the caller may save them)."""

    def __init__(self, message: str, last_good=None, last_time: float | None = None):
        super().__init__(message)
        self.last_good, self.last_time = last_good, last_time


class SeparableKernel(eqx.Module):
    """A non-mixing kernel ``Θ_ijkl(x, x') = k(x, x') δ_ik δ_jl`` with scalar ``k`` (its
    kernel–vector products use only ``k``, ``n⁴`` times cheaper)."""

    scalar: Callable
    n: int = eqx.field(static=True)

    def __call__(self, x, xp):
        e = jnp.eye(self.n)
        return self.scalar(x, xp) * jnp.einsum("ik,jl->ijkl", e, e)


def _pair_block(kernel, x, c, alpha):
    """``Σ_b Θ(x, c_b) · α_b`` for one point ``x`` and a chunk of centres."""
    if isinstance(kernel, SeparableKernel):
        return jnp.einsum("b,bkl->kl", jax.vmap(lambda cb: kernel.scalar(x, cb))(c), alpha)
    return jnp.einsum("bijkl,bkl->ij", jax.vmap(lambda cb: kernel(x, cb))(c), alpha)


def _blocks(a: Array, size: int) -> Array:
    """``a`` zero-padded to a multiple of ``size`` points, as (blocks, size, ...)."""
    a = jnp.concatenate([a, jnp.zeros((-a.shape[0] % size,) + a.shape[1:], a.dtype)])
    return a.reshape((-1, size) + a.shape[1:])


def kernel_vector_product(
    kernel: Kernel,
    xs: Float[Array, "M d"],
    centers: Float[Array, "N d"],
    alpha: Float[Array, "N n n"],
    chunk: int = 256,
) -> Float[Array, "M n n"]:
    """Matrix-free ``(Θ α)(x_m) = Σ_b Θ(x_m, c_b) · α_b`` (eq. 1.2's sum), chunked over both
    the evaluation points and the centres: peak memory ``O(chunk² n⁴)``, never ``O(M N)``."""
    cc = min(chunk, centers.shape[0])
    cs, al = _blocks(centers, cc), _blocks(alpha, cc)

    def one_row_chunk(xr):
        body = lambda acc, ca: (acc + jax.vmap(lambda x: _pair_block(kernel, x, *ca))(xr), None)
        acc0 = jnp.zeros((xr.shape[0],) + alpha.shape[1:], alpha.dtype)
        return jax.lax.scan(body, acc0, (cs, al))[0]

    out = jax.lax.map(one_row_chunk, _blocks(xs, min(chunk, xs.shape[0])))
    return out.reshape((-1,) + alpha.shape[1:])[: xs.shape[0]]


_kvp_jit = eqx.filter_jit(kernel_vector_product)


@eqx.filter_jit
def gram_matrix(kernel: Kernel, xs: Float[Array, "N d"], n: int) -> Float[Array, "Nnn Nnn"]:
    """The dense kernel matrix ``K[(a,i,j),(b,k,l)] = Θ_ijkl(x_a, x_b)``, shape ``(N n², N n²)``."""
    return as_matrix(jax.lax.map(lambda x: jax.vmap(lambda c: kernel(x, c))(xs), xs))


def check_psd(mat: Array, where: str = "kernel", rtol: float = 1e-9) -> Array:
    """Eigenvalues of a symmetric matrix; raise :class:`FlowError` if not symmetric PSD."""
    mat = np.asarray(mat)
    if not np.all(np.isfinite(mat)):
        raise FlowError(f"{where}: kernel matrix contains NaN or inf")
    scale = np.abs(mat).max() + 1e-300
    asym = np.abs(mat - mat.T).max()
    if asym > 1e-8 * scale:
        raise FlowError(f"{where}: kernel matrix is not symmetric (max |K − Kᵀ| = {asym:.3g})")
    lam = np.linalg.eigvalsh(0.5 * (mat + mat.T))
    if lam.min() < -rtol * max(lam.max(), 1e-300) * mat.shape[0]:
        raise FlowError(
            f"{where}: kernel is not positive semi-definite (smallest eigenvalue "
            f"{lam.min():.3g}, largest {lam.max():.3g})"
        )
    return lam


def probe_psd(kernel, xs, n, key, probes: int = 8, chunk: int = 256, where="kernel") -> None:
    """Matrix-free necessary check: ``vᵀ K v ≥ 0`` for random symmetric probes ``v``."""
    for k in jax.random.split(key, probes):
        v = jax.random.normal(k, (xs.shape[0], n, n))
        v = 0.5 * (v + jnp.swapaxes(v, 1, 2))
        q = float(jnp.vdot(v, _kvp_jit(kernel, xs, xs, v, chunk)))
        if not math.isfinite(q):
            raise FlowError(f"{where}: kernel–vector product is NaN or inf")
        if q < -1e-9 * float(jnp.vdot(v, v)):
            raise FlowError(f"{where}: kernel is not positive semi-definite (vᵀKv = {q:.3g} < 0)")


class KernelMetric(eqx.Module):
    """``g(x) = g_ref(x) + Σ_a Θ(x, x_a) · α_a`` — a metric callable (one point)."""

    reference: Callable
    kernel: Kernel
    centers: Float[Array, "N d"]
    alpha: Float[Array, "N n n"]
    chunk: int = eqx.field(static=True, default=256)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, "n n"]:
        kvp = kernel_vector_product(self.kernel, x[None], self.centers, self.alpha, self.chunk)
        return self.reference(x) + kvp[0]

    def values(self, xs: Float[Array, "M d"]) -> Float[Array, "M n n"]:
        """The metric at many points (one chunked kernel–vector product)."""
        kvp = kernel_vector_product(self.kernel, xs, self.centers, self.alpha, self.chunk)
        return jax.vmap(self.reference)(xs) + kvp


class DenseKernelMetric(KernelMetric):
    """A :class:`KernelMetric` that also holds the dense Gram matrix on its own centres, so
    ``values(centers)`` is one matrix–vector product (use only where ``(N n²)²`` fits)."""

    gram: Array = None
    reference_values: Array = None

    def values(self, xs):
        """The metric at the centres (``xs`` must be the centres)."""
        nn, n = self.alpha.shape[0], self.alpha.shape[1]
        return self.reference_values + (self.gram @ self.alpha.reshape(-1)).reshape(nn, n, n)


Gradient = Callable[[Callable, Array, Array], Array]  # (metric, xs, weights) -> ∂L/∂g(x_a)


def loss_gradient(loss: Loss) -> Gradient:
    """``∂L/∂g(x_a)`` of an order-0 loss at the metric's values (autodiff, weights included)."""
    if loss.order != 0:
        raise FlowError(
            f"{type(loss).__name__} depends on derivatives of g; the kernel flow takes it as a "
            "gradient field (a callable (metric, xs, weights) -> ∂L/∂g) or use parameter_flow"
        )

    def grad(metric, xs, weights):
        gv = metric.values(xs) if hasattr(metric, "values") else jax.vmap(metric)(xs)
        return jax.grad(lambda g: loss_from_jets(loss, xs, weights, g))(gv)

    return grad


@dataclass
class KernelFlowResult:
    """Output of :func:`kernel_flow`: the flowed metric at ``ts[-1]`` and the trajectory."""

    metric: KernelMetric
    ts: np.ndarray
    alphas: np.ndarray  # (T, N, n, n)

    def metric_at_time(self, i: int) -> KernelMetric:
        return eqx.tree_at(lambda m: m.alpha, self.metric, jnp.asarray(self.alphas[i]))


metric_values = eqx.filter_jit(lambda metric, xs: metric.values(xs))


def _check_state(metric: KernelMetric, xs, where: str, t: float) -> str | None:
    gv = np.asarray(metric_values(metric, xs))
    if not np.all(np.isfinite(np.asarray(metric.alpha))):
        return f"{where}: NaN or inf in the flow state at t = {t:.6g}"
    if not np.all(np.isfinite(gv)):
        i = int(np.argmax(~np.isfinite(gv).all(axis=(1, 2))))
        return f"{where}: metric is NaN at collocation point {i} at t = {t:.6g}"
    eig = np.linalg.eigvalsh(0.5 * (gv + np.swapaxes(gv, 1, 2))).min(axis=1)
    if eig.min() <= 0:
        i = int(np.argmin(eig))
        return (
            f"{where}: metric is not positive-definite at collocation point {i} "
            f"(x = {np.asarray(xs[i]).tolist()}, smallest eigenvalue {eig[i]:.3g}) at t = {t:.6g}"
        )
    return None


def kernel_flow(
    loss: Loss | Gradient,
    reference: Callable,
    kernel: Kernel,
    xs: Float[Array, "N d"],
    weights: Float[Array, " N"],
    t1: float,
    *,
    n: int | None = None,
    ts: np.ndarray | None = None,
    alpha0: Array | None = None,
    dense: bool = False,
    chunk: int = 256,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    check_kernel: bool = True,
    key: Array | None = None,
    callback: Callable[[float, KernelMetric], None] | None = None,
) -> KernelFlowResult:
    """Integrate ``dα/dt = −∂L/∂g(x_a)`` with diffrax (Tsit5, adaptive PID steps) for an order-0
    :class:`~ntkflow.flows.losses.Loss` or a gradient field ``(metric, xs, weights) -> (N, n, n)``.
    At each of ``ts`` (default 11 equal steps) the state is checked (finite, metric PD at the
    points) and handed to ``callback(t, metric)``; on failure :class:`FlowError` carries the
    last good state and its time."""
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    if xs.ndim != 2 or weights.shape != (xs.shape[0],):
        raise FlowError(
            f"kernel_flow: points (N, d) and weights (N,), got {xs.shape}, {weights.shape}"
        )
    n = n or int(jnp.asarray(reference(xs[0])).shape[0])
    grad_fn = loss_gradient(loss) if isinstance(loss, Loss) else loss
    alpha0 = jnp.zeros((xs.shape[0], n, n), xs.dtype) if alpha0 is None else alpha0
    at = lambda alpha: KernelMetric(reference, kernel, xs, alpha, chunk)
    base = at(alpha0)
    if dense:
        kmat = gram_matrix(kernel, xs, n)
        if check_kernel:
            check_psd(kmat, "kernel_flow")
        refs = jax.vmap(reference)(xs)
        base = DenseKernelMetric(reference, kernel, xs, alpha0, chunk, kmat, refs)
    elif check_kernel:
        probe_psd(kernel, xs, n, key if key is not None else jax.random.key(0), chunk=chunk)

    def vector_field(t, alpha, args):
        # everything large travels in ``args`` (closed-over arrays would be baked into the
        # compiled program as constants, which is slow to compile for big N)
        fn, metric, pts, wts = args
        return -fn(eqx.tree_at(lambda m: m.alpha, metric, alpha), pts, wts)

    ts = np.linspace(0.0, t1, 11) if ts is None else np.asarray(ts, float)
    if ts[0] != 0.0:
        ts = np.concatenate([[0.0], ts])
    term, solver = diffrax.ODETerm(vector_field), diffrax.Tsit5()
    opts = {"stepsize_controller": diffrax.PIDController(rtol=rtol, atol=atol), "throw": False}

    @eqx.filter_jit
    def segment(alpha, ta, tb, args):
        sol = diffrax.diffeqsolve(
            term, solver, ta, tb, (tb - ta) / 10, alpha, args=args, max_steps=max_steps, **opts
        )
        return sol.ys[-1], sol.result == diffrax.RESULTS.successful

    alphas = [np.asarray(alpha0)]
    alpha = alpha0
    if msg := _check_state(base, xs, "kernel_flow", 0.0):
        raise FlowError(msg)
    for k in range(1, len(ts)):
        args = (grad_fn, base, xs, weights)
        new, ok = segment(alpha, jnp.asarray(ts[k - 1]), jnp.asarray(ts[k]), args)
        cand = eqx.tree_at(lambda m: m.alpha, base, new)
        msg = (
            _check_state(cand, xs, "kernel_flow", float(ts[k]))
            if bool(ok)
            else (
                f"kernel_flow: the ODE solver failed between t = {ts[k - 1]:.6g} and {ts[k]:.6g} "
                "(step size collapsed or NaN in δl/δg)"
            )
        )
        if msg:
            raise FlowError(msg, last_good=at(alpha), last_time=float(ts[k - 1]))
        alpha = new
        alphas.append(np.asarray(alpha))
        if callback is not None:
            callback(float(ts[k]), cand)
    return KernelFlowResult(at(alpha), ts, np.stack(alphas))


def power_iteration(matvec: Callable[[Array], Array], v0: Array, iters: int) -> Array:
    """λ_max ≈ ‖A v_k‖ after ``iters`` products v ← A (v/‖v‖) (von Mises power iteration;
    A = the linearised flow operator, whose largest eigenvalue bounds a stable Euler step)."""
    v = jax.lax.fori_loop(0, iters - 1, lambda _, v: matvec(v / jnp.linalg.norm(v)), v0)
    return jnp.linalg.norm(matvec(v / jnp.linalg.norm(v)))


def euler_flow(grad: Callable, apply: Callable, p0: Array, c0: Array, dt, steps: int) -> Array:
    """``steps`` explicit Euler steps of p = p0 + K c, dc/dt = −∂L/∂p(p) (1.2), with ``apply(c)``
    = K c (matrix-free) and ``grad(p)`` = ∂L/∂p; returns c. Use ``dt = dt_factor/λ_max``, λ_max
    from :func:`power_iteration` on c ↦ K ∇²L c."""

    def body(c, _):
        return c - dt * grad(p0 + apply(c)), None

    return jax.lax.scan(body, c0, None, length=steps)[0]


def regression_closed_form(
    loss: MetricRegression,
    reference: Callable,
    kernel: Kernel,
    xs: Float[Array, "N d"],
    weights: Float[Array, " N"],
    ts,
    n: int | None = None,
    chunk: int = 256,
) -> KernelFlowResult:
    """Exact kernel flow for ``l = ½|g − g*|²`` (Jacot et al. 2018 §5; Lee et al. 2019 eq. 9):
    α(t) = −W^{1/2} U diag((1 − e^{−λt})/λ) Uᵀ W^{1/2} r(0), W^{1/2} K W^{1/2} = U Λ Uᵀ.
    Derivation: docs/derivations.md#flows-kernel_flow-regression_closed_form."""
    xs, weights = jnp.asarray(xs), jnp.asarray(weights)
    if np.any(np.asarray(weights) <= 0):
        raise FlowError("regression_closed_form: weights must be positive")
    n = n or int(jnp.asarray(reference(xs[0])).shape[0])
    sw = np.repeat(np.sqrt(np.asarray(weights)), n * n)
    s = sw[:, None] * np.asarray(gram_matrix(kernel, xs, n)) * sw[None, :]
    check_psd(s, "regression_closed_form")
    lam, u = np.linalg.eigh(0.5 * (s + s.T))
    lam = np.clip(lam, 0.0, None)
    r0 = np.asarray(jax.vmap(reference)(xs) - jax.vmap(loss.target)(xs)).reshape(-1)
    ts = np.asarray(ts, float)
    lt = ts[:, None] * lam  # (T, N n²)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(lt > 1e-12, -np.expm1(-lt) / np.where(lam > 0, lam, 1), ts[:, None])
    alphas = (-sw * ((f * (u.T @ (sw * r0))) @ u.T)).reshape(len(ts), xs.shape[0], n, n)
    metric = KernelMetric(reference, kernel, xs, jnp.asarray(alphas[-1]), chunk)
    return KernelFlowResult(metric, ts, alphas)
