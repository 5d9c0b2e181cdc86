"""The Gaussian-kernel Ricci flow on S² and S³ (round and Berger) in the stereographic chart,
written for the deviation δ = g − g_ref(t) from the exact (reference) Ricci flow:
dδ/dt = W · (−2 ∫_box G_ℓ(x − y) R_ij(g_ref + δ)(y) dⁿy − ∂_t g_ref).
Charts, window, grid and quadrature: docs/derivations.md#flows-ricci_limit."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array
from scipy.special import erfc

from ..geometry.curvature import ricci_from_jet
from ..geometry.ricci_flow import ricci_flow, ricci_flow_round_sphere
from ..geometry.ricci_flow_sphere import LeftInvariantS3Metric
from ..geometry.spectral import components_from_sym, sym_from_components

BERGER_SQUASH = 0.5  # λ₃ of the Berger sphere g = σ¹² + σ²² + λ₃ σ³² (round: λ₃ = 1)
WINDOW_RADIUS, WINDOW_WIDTH = 1.8, 0.25  # W(r) = ½ erfc((r − r_w)/s_w)
SPACING = {2: 0.08, 3: 0.15}  # grid spacing h of the chart box, per dimension


def round_chart(x):
    """The unit round Sⁿ in the stereographic chart: ``4/(1 + |x|²)² δ``."""
    return 4.0 / (1.0 + x @ x) ** 2 * jnp.eye(x.shape[0], dtype=x.dtype)


def s3_coframe_chart(x):
    """Rows σ^a_μ (a = 1..3) of the left-invariant coframe of SU(2) ≅ S³, q̄ dq = iσ¹ + jσ² +
    kσ³, pulled back by the inverse stereographic map x ↦ q = ((1 − |x|²) + 2x·(i, j, k))
    / (1 + |x|²); Σ_a σ^a ⊗ σ^a is the unit round metric."""

    def quat(y):
        s = 1.0 + y @ y
        return jnp.concatenate([jnp.array([(2.0 - s) / s]), 2.0 * y / s])

    q, dq = quat(x), jax.jacfwd(quat)(x)  # (4,), (4, 3)
    w, v = q[0], q[1:]
    dw, dv = dq[0], dq[1:]
    # Im(q̄ p) for q̄ = (w, −v), p = (dw, dv): w dv − dw v − v × dv
    cross = jnp.cross(-v[:, None], dv, axis=0)
    return (w * dv - v[:, None] * dw[None, :] + cross).astype(x.dtype)


def s3_frame_tensor(a: int):
    """``x ↦ σ^a ⊗ σ^a`` in the chart."""

    def tensor(x):
        e = s3_coframe_chart(x)[a]
        return jnp.outer(e, e)

    return tensor


class SphereModel(eqx.Module):
    """g_ref(t) = Σ_a λ_a(t) T_a(x), with λ(t) from the reference solver."""

    n: int
    basis: tuple
    lam0: np.ndarray


def sphere_model(manifold: str) -> SphereModel:
    if manifold == "sphere2":
        return SphereModel(2, (round_chart,), np.ones(1))
    tensors = tuple(s3_frame_tensor(a) for a in range(3))
    lam = np.array([1.0, 1.0, BERGER_SQUASH if manifold == "berger3" else 1.0])
    return SphereModel(3, tensors, lam)


def reference_coefficients(manifold: str, lam0: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """λ_a at times ``ts``: the exact r(t)² on the round S² (``ricci_flow_round_sphere``), the
    left-invariant ODE of ``geometry.ricci_flow`` on S³ (``A = λ/4``: its coframe is 2σ)."""
    if manifold == "sphere2":
        return np.asarray(ricci_flow_round_sphere(2, 1.0, ts))[:, None] ** 2
    sol = ricci_flow(LeftInvariantS3Metric(jnp.asarray(lam0 / 4.0)), float(ts[-1]), ts=ts)
    return 4.0 * np.stack([np.asarray(sol.state(float(s))) for s in ts])


def gaussian_box_matrix(grid: np.ndarray, lengthscale: float, order: int = 8) -> np.ndarray:
    """K[i, j] with ``∫_{x_0}^{x_{N−1}} g_ℓ(x_i − y) f(y) dy ≈ Σ_j K[i, j] f(x_j)`` for the 1-D
    normalised Gaussian g_ℓ: the exact integral of the piecewise degree-(order−1) Lagrange
    interpolant of f on each grid cell (stencil of ``order`` points, shifted at the ends),
    by Gauss–Legendre quadrature on sub-cells finer than ℓ."""
    size, h = len(grid), grid[1] - grid[0]
    sub = max(1, int(np.ceil(4 * h / lengthscale)))
    gx, gw = np.polynomial.legendre.leggauss(12)
    # quadrature nodes in units of h from x_0, cell c, sub-cell s
    u = (np.arange(sub)[:, None] + 0.5 * (gx[None, :] + 1.0)) / sub  # (sub, 12) in [0, 1)
    wq = np.broadcast_to(0.5 * gw / sub, u.shape)
    k = np.zeros((size, size))
    for c in range(size - 1):
        lo = min(max(c - order // 2 + 1, 0), size - order)
        stencil = np.arange(lo, lo + order)
        y = c + u.ravel()  # nodes in grid units
        # Lagrange basis of the stencil at the nodes
        basis = np.ones((order, y.size))
        for m, sm in enumerate(stencil):
            for q in stencil:
                if q != sm:
                    basis[m] *= (y - q) / (sm - q)
        dist = (grid[:, None] - (grid[0] + h * y)[None, :]) / lengthscale
        gauss = np.exp(-0.5 * dist**2) / (np.sqrt(2 * np.pi) * lengthscale)
        k[:, stencil] += (gauss * (h * wq.ravel())[None, :]) @ basis.T
    return k


def box_convolve(f: Array, kmat: Array, n: int) -> Array:
    """Separable ``Σ_j K ⊗ … ⊗ K f`` over the first n axes of ``f``."""
    for m in range(n):
        f = jnp.moveaxis(jnp.tensordot(kmat, f, axes=([1], [m])), 0, m)
    return f


def _fft_size(m: int) -> int:
    """The smallest even m' ≥ m with prime factors 2, 3 and 5 only."""
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1 and m % 2 == 0:
            return m
        m += 1


class ChartGrid(eqx.Module):
    """The box [−L, L)ⁿ of the chart, N points per axis, with the window and the jets of the
    reference basis tensors at the points."""

    n: int = eqx.field(static=True)
    length: float = eqx.field(static=True)  # 2L
    axis: Array
    window: Array  # (N,)*n
    jets: tuple  # (T, ∂T, ∂²T) on the grid, each of shape (basis, N, …, N, n, n, …)
    in_ball: Array  # |x| ≤ 1


def chart_grid(model: SphereModel, max_lengthscale: float, spacing: float | None = None):
    """Box half-width ``L = r_w + 4 s_w + 5 ℓ_max`` (the window has fallen to ~1e-8 at
    ``r_w + 4 s_w`` and the Gaussian's mass beyond ``5ℓ`` is ~1e-6), spacing h per dimension."""
    n = model.n
    h = float(spacing or SPACING[n])
    half = WINDOW_RADIUS + 4 * WINDOW_WIDTH + 5 * max_lengthscale
    size = _fft_size(2 * int(np.ceil(half / h)))
    axis = (np.arange(size) - size // 2) * h  # includes x = 0
    mesh = np.stack(np.meshgrid(*[axis] * n, indexing="ij"), -1)
    r = np.sqrt((mesh**2).sum(-1))
    window = 0.5 * erfc((r - WINDOW_RADIUS) / WINDOW_WIDTH)
    pts = jnp.asarray(mesh.reshape(-1, n))

    def jet(f):
        j1 = jax.jacfwd(f)
        j2 = jax.jacfwd(j1)
        return lambda x: (f(x), j1(x), j2(x))

    jets = [jax.lax.map(jet(tensor), pts, batch_size=4096) for tensor in model.basis]
    jets = tuple(
        jnp.stack([j[k] for j in jets]).reshape((len(jets),) + (size,) * n + jets[0][k].shape[1:])
        for k in range(3)
    )  # (T, ∂T, ∂²T), each stacked over the basis tensors first
    return ChartGrid(n, size * h, jnp.asarray(axis), jnp.asarray(window), jets, r <= 1.0)


def spectral_jets(comps: Array, n: int, length: float):
    """δ, ∂δ, ∂²δ as symmetric matrices (``[..., a, b, c] = ∂_c δ_ab``, ``[..., a, b, c, d] =
    ∂_c∂_d δ_ab``) from the independent components on the periodic grid: one real FFT, then
    the multipliers ik_c and −k_c k_d."""
    size, axes = comps.shape[0], tuple(range(n))
    k = 2 * np.pi * np.fft.fftfreq(size, d=length / size)
    if size % 2 == 0:
        k[size // 2] = 0.0  # Nyquist
    ks = [k] * (n - 1) + [k[: size // 2 + 1]]
    kv = [jnp.asarray(kk.reshape([-1 if a == m else 1 for a in range(n)] + [1])) for m, kk in
          enumerate(ks)]  # fmt: skip
    fh = jnp.fft.rfftn(comps, axes=axes)
    back = lambda f: jnp.fft.irfftn(f, s=(size,) * n, axes=axes)
    d1 = jnp.stack([back(1j * kv[c] * fh) for c in range(n)], -1)
    d2 = [[None] * n for _ in range(n)]
    for c in range(n):
        for d in range(c, n):
            d2[c][d] = d2[d][c] = back(-kv[c] * kv[d] * fh)
    d2 = jnp.stack([jnp.stack(row, -1) for row in d2], -2)  # [..., comp, c, d]
    sym = lambda f: jnp.moveaxis(
        sym_from_components(jnp.moveaxis(f, n, -1), n), (-2, -1), (n, n + 1)
    )
    return sym_from_components(comps, n), sym(d1), sym(d2)


def chebyshev_values(cheb: Array, s):
    """Σ_k c_k T_k(s) for coefficients ``cheb`` of shape (degree + 1, m)."""
    tk = [jnp.ones_like(s), s]
    for _ in range(cheb.shape[0] - 2):
        tk.append(2 * s * tk[-1] - tk[-2])
    return sum(tk[k] * cheb[k] for k in range(cheb.shape[0]))


class DeviationFlow(eqx.Module):
    """dδ/dt on the chart grid (module docstring); λ(t), λ'(t) from a Chebyshev interpolant
    of the reference coefficients on [0, t_end]."""

    grid: ChartGrid
    kmat: Array
    cheb: Array  # (degree + 1, basis) Chebyshev coefficients of λ in s = 2t/t_end − 1
    t_end: float

    def coefficients(self, t):
        return chebyshev_values(self.cheb, 2.0 * t / self.t_end - 1.0)

    def __call__(self, t, comps, args):
        gr, n = self.grid, self.grid.n
        lam, dlam = jax.jvp(self.coefficients, (t,), (jnp.ones_like(t),))
        delta, d1, d2 = spectral_jets(comps, n, gr.length)
        g, dg, d2g = (
            d + jnp.tensordot(lam, j, 1) for d, j in zip((delta, d1, d2), gr.jets, strict=True)
        )
        ric = components_from_sym(ricci_from_jet(g, dg, d2g))  # points in front: one fused loop
        smoothed = box_convolve(ric, self.kmat, n)
        dg_ref = components_from_sym(jnp.tensordot(dlam, gr.jets[0], 1))
        return gr.window[..., None] * (-2.0 * smoothed - dg_ref)


@eqx.filter_jit
def _solve(term, y0, t1, rtol, atol):
    from .ricci_limit import solve_to

    return solve_to(term, y0, t1, diffrax.Tsit5(), diffrax.PIDController(rtol=rtol, atol=atol))


class SphereLimit:
    """The chart grid, the reference flow and the Gaussian-kernel flows of one sphere."""

    def __init__(self, manifold: str, t: float, max_lengthscale: float, spacing=None):
        self.manifold, self.t = manifold, float(t)
        self.model = sphere_model(manifold)
        self.grid = chart_grid(self.model, max_lengthscale, spacing)
        deg = 10
        nodes = 0.5 * self.t * (1 - np.cos(np.pi * (np.arange(deg) + 0.5) / deg))
        lam = reference_coefficients(manifold, self.model.lam0, np.concatenate([[0.0], nodes]))
        if not np.allclose(lam[0], self.model.lam0, rtol=1e-12):
            raise AssertionError("reference flow does not start at the initial metric")
        s = 2 * nodes / self.t - 1
        self.cheb = jnp.asarray(np.polynomial.chebyshev.chebfit(s, lam[1:], deg - 1))
        self.lam_end = np.asarray(chebyshev_values(self.cheb, jnp.asarray(1.0)))

    @property
    def points(self) -> int:
        return int(np.prod(self.grid.window.shape))

    def reference(self) -> np.ndarray:
        """g_ref(t) on the grid."""
        return np.asarray(jnp.tensordot(jnp.asarray(self.lam_end), self.grid.jets[0], 1))

    def flow(self, lengthscale: float, rtol: float = 1e-7, atol: float = 1e-10) -> np.ndarray:
        """δ(t) = g(t) − g_ref(t) of the Gaussian-kernel flow on the grid."""
        from .kernel_flow import FlowError

        kmat = jnp.asarray(gaussian_box_matrix(np.asarray(self.grid.axis), lengthscale))
        term = DeviationFlow(self.grid, kmat, self.cheb, self.t)
        n = self.grid.n
        y0 = jnp.zeros(self.grid.window.shape + (n * (n + 1) // 2,))
        y, ok, steps = _solve(term, y0, self.t, rtol, atol)
        if not bool(ok):
            raise FlowError(f"Gaussian-kernel flow on {self.manifold}, ℓ = {lengthscale}: failed")
        self.steps = int(steps)
        return np.asarray(sym_from_components(y, n))

    def distance(self, delta: np.ndarray) -> float:
        """Relative L² distance ``‖δ‖ / ‖g_ref(t)‖`` on the unit ball (coordinate measure)."""
        m = np.asarray(self.grid.in_ball)
        ref = self.reference()
        return float(np.sqrt((delta[m] ** 2).sum() / (ref[m] ** 2).sum()))
