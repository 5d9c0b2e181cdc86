"""Donaldson's balanced metrics: the classical algebraic baseline and the algebraic ansatz's start.
T(H)_{αβ} = (N_k/Σ_p w_p) Σ_p w_p s_α(z_p) s̄_β(z_p)/(sᴴ H s)(z_p), H ← T(H)⁻¹ (Donaldson 2009,
§2; Douglas et al. hep-th/0612075 eq. (3.5)). Derivation: docs/derivations.md#cy-donaldson."""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ntkflow.memory import MemoryBudgetError, compiled_bytes, map_chunked, memory_budget
from ntkflow.parallel import (
    active_mesh,
    map_points,
    point_sum,
    replicate,
    rows_per_device,
    shard_rows,
)

from .kahler import kahler_metric_ambient, pullback, pullback_jacobian
from .measures import sigma_measure, volume
from .points import PointSet
from .potential import AlgebraicPotential
from .sampling import sample_points
from .sections import fs_hermitian, section_basis, section_values
from .variety import Variety, VarietyError


def _real_sections(exponents, k, z):
    """X = [Re S | Im S] for a batch of points: shape (b, 2 N_k), float64."""
    S = jax.vmap(lambda x: section_values(exponents, x, k))(z)
    return jnp.concatenate([S.real, S.imag], axis=1)


def _chunk_gram(X, w, W):
    """G = Σ_p (w_p/den_p) x_p x_pᵀ over one chunk in the real form x = [Re s, Im s], where
    den = sᴴ H s = |M s|² = |W x|² with W = [[Re M, −Im M], [Im M, Re M]] the real form of M
    (``W`` is passed transposed). Real products: one BLAS gemm for den, one for G."""
    V = X @ W
    den = jnp.sum(V * V, axis=1)
    Y = X * jnp.sqrt(w / den)[:, None]
    return Y.T @ Y


def _chunk_gram_from_points(exponents, k, z, w, W):
    return _chunk_gram(_real_sections(exponents, k, z), w, W)


def _real_form_t(M: Complex[Array, "n n"]) -> Float[Array, "2n 2n"]:
    """Wᵀ for W = [[Re M, −Im M], [Im M, Re M]]: rows x ↦ x Wᵀ realise s ↦ M s."""
    W = jnp.block([[M.real, -M.imag], [M.imag, M.real]])
    return W.T


@jax.jit
def _update(G, scale):
    """From G = Σ (w/den) x xᵀ: T = scale·[(A + B) + i(Cᵀ − C)] (A, B, C the Re-Re, Im-Im and
    Re-Im blocks), T = L Lᴴ, and the new M = L⁻¹ (so H = T⁻¹ = Mᴴ M), in real form."""
    n = G.shape[0] // 2
    A, B, C = G[:n, :n], G[n:, n:], G[:n, n:]
    T = scale * ((A + B) + 1j * (C.T - C))
    T = 0.5 * (T + T.conj().T)
    L = jnp.linalg.cholesky(T)
    M = jax.scipy.linalg.solve_triangular(L, jnp.eye(n, dtype=L.dtype), lower=True)
    return M, _real_form_t(M)


def _specs(n_sections: int, n_coords: int, chunk: int, from_points: bool) -> tuple:
    W = jax.ShapeDtypeStruct((2 * n_sections, 2 * n_sections), jnp.float64)
    w = jax.ShapeDtypeStruct((chunk,), jnp.float64)
    if from_points:
        return jax.ShapeDtypeStruct((chunk, n_coords), jnp.complex128), w, W
    return jax.ShapeDtypeStruct((chunk, 2 * n_sections), jnp.float64), w, W


def _step_fn(exponents: np.ndarray, from_points: bool) -> Callable:
    if not from_points:
        return _chunk_gram
    k = int(np.asarray(exponents).max())  # the power table needs the largest exponent
    return functools.partial(_chunk_gram_from_points, jnp.asarray(exponents), k)


def t_chunk_bytes(exponents: np.ndarray, chunk: int, from_points: bool = True) -> int:
    """Compiled bytes (temporaries + outputs + arguments) of one T-operator chunk of ``chunk``
    points, read from XLA's memory analysis on shape-only arguments."""
    exponents = np.asarray(exponents)
    specs = _specs(exponents.shape[0], exponents.shape[1], chunk, from_points)
    return compiled_bytes(_step_fn(exponents, from_points), *specs)


def compile_within_budget(fn: Callable, specs: Callable[[int], tuple], n: int, budget: int):
    """``(compiled, chunk)``: ``jit(fn)`` compiled for the largest chunk ≤ n (arguments
    ``specs(chunk)``) whose memory analysis (temporaries + outputs + arguments) fits
    ``budget`` bytes. Tries chunk = n first (one compilation for small problems), then shrinks
    by the measured ratio bytes/budget until the compiled chunk fits."""
    chunk = max(1, int(n))
    for _ in range(8):
        compiled = jax.jit(fn).lower(*specs(chunk)).compile()
        m = compiled.memory_analysis()
        used = m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes
        if used <= budget:
            return compiled, chunk
        if chunk == 1:
            break
        chunk = max(1, int(chunk * 0.9 * budget / used))
    raise MemoryBudgetError(
        f"one chunk of {getattr(fn, '__name__', 'the computation')} needs "
        f"{used / 2**30:.2f} GiB, more than the memory budget of {budget / 2**30:.2f} GiB; "
        "raise NTKFLOW_MEMORY_BUDGET"
    )


def _chunks(a: np.ndarray, size: int, fill) -> list:
    """``a`` split along axis 0 into device arrays of ``size`` rows (the last one padded)."""
    out = []
    for start in range(0, a.shape[0], size):
        blk = a[start : start + size]
        if blk.shape[0] < size:
            row = blk[-1:] if fill is None else np.full_like(blk[:1], fill)
            pad = np.repeat(row, size - len(blk), axis=0)
            blk = np.concatenate([blk, pad])
        out.append(jnp.asarray(blk))
    return out


def balanced_hermitian(
    exponents: np.ndarray,
    z: Complex[Array, "N n"],
    weights: Float[Array, " N"],
    iterations: int,
    progress: Callable[[], None] | None = None,
    budget: int | None = None,
    mesh=None,
) -> np.ndarray:
    """Donaldson's iteration H ← T(H)⁻¹ (module doc) from the Fubini–Study H, ``iterations``
    times, on the points ``z`` with weights ``weights``; returns H (N_k × N_k, complex128) in the
    convention K = (1/πk) log sᴴ H s. With a ``mesh`` the sum over points of T(H) is taken on
    each device's rows and all-reduced (:func:`ntkflow.parallel.point_sum`)."""
    exponents = np.asarray(exponents)
    k = int(exponents.max())  # the degree per factor (the largest exponent)
    z = np.asarray(z, dtype=np.complex128)
    w = np.asarray(weights, dtype=np.float64)
    n, n_k = z.shape[0], exponents.shape[0]
    if n < n_k:
        raise ValueError(f"balanced_hermitian: {n} points cannot balance {n_k} sections")
    budget = memory_budget() if budget is None else int(budget)
    from_points = n * n_k * 16 > budget // 2  # else X is kept beside one chunk in the budget
    mesh = active_mesh(mesh)
    step, chunk = compile_within_budget(
        _step_fn(exponents, from_points),
        lambda c: _specs(n_k, z.shape[1], c, from_points),
        rows_per_device(n, mesh),
        budget // 2,
    )
    if from_points:
        data = z
    else:  # the section values once, in chunks of the budget
        values = functools.partial(_real_sections, jnp.asarray(exponents), k)
        data = map_chunked(lambda x: values(x[None])[0], jnp.asarray(z), budget=budget // 2)
    if mesh is None:
        w_chunks = _chunks(w, chunk, 0.0)  # padded points carry weight 0
        chunks = _chunks(np.asarray(data), chunk, None)
        gram = lambda W: functools.reduce(
            operator.add, (step(d, wc, W) for d, wc in zip(chunks, w_chunks, strict=True))
        )
    else:
        fn = _step_fn(exponents, from_points)
        sharded = shard_rows((data, w), mesh, n, zero=lambda t: t[1])
        total = jax.jit(
            lambda W, d, wc: point_sum(
                lambda q, a, b: fn(a, b, q), W, d, wc, chunk=chunk, mesh=mesh
            )
        )
        gram = lambda W: total(replicate(W, mesh), *sharded)
    # the start H = fs (diagonal): M = sqrt(H), W its real form, built in numpy (no compiles)
    m0 = np.sqrt(np.diag(fs_hermitian(exponents)))
    M = np.diag(m0).astype(np.complex128)
    W = jnp.asarray(np.diag(np.concatenate([m0, m0])))
    scale = n_k / w.sum()
    for _ in range(iterations):
        M, W = _update(gram(W), scale)
        M = np.asarray(M)
        if not np.isfinite(M).all():
            raise ValueError(
                "balanced_hermitian: T(H) is not positive definite (too few points for "
                f"N_k = {n_k} sections, or a basis that is not one)"
            )
        if progress is not None:
            progress()
    H = M.conj().T @ M
    return 0.5 * (H + H.conj().T)


def monomial_basis(variety: Variety, k: int) -> np.ndarray:
    """Exponents (N_k, n_coords) of the reduced monomial basis (:func:`section_basis`)."""
    return section_basis(variety, k)


def balanced_metric(
    variety: Variety,
    k: int,
    points: PointSet,
    n_iter: int = 10,
    progress=None,
    dtype=jnp.float64,
    mesh=None,
) -> AlgebraicPotential:
    """The balanced algebraic potential of degree k: ``n_iter`` T-iterations on ``points``
    (sharded over ``mesh`` when given)."""
    exps = section_basis(variety, k)
    H = balanced_hermitian(exps, points.z, points.weights, n_iter, progress, mesh=mesh)
    return AlgebraicPotential(exps, H, dtype=dtype, ambient=variety.ambient)


def potential_det(
    variety, potential, z, patch, elim, budget: int | None = None, mesh=None
) -> np.ndarray:
    """det of the metric of ``potential`` pulled back to the variety, for a batch of points,
    in chunks sized by the memory budget, sharded over ``mesh`` when given (the closed-form
    ``pullback_metric`` where the potential has one, else the autodiff ∂∂̄ of the ambient
    potential)."""

    def one(potential, z, p, e):
        J = pullback_jacobian(variety, z, p, e)
        if hasattr(potential, "pullback_metric"):
            g = potential.pullback_metric(z, J)
        else:
            g = pullback(kahler_metric_ambient(potential, z), J)
        return jnp.real(jnp.linalg.det(g.astype(jnp.complex128)))

    rows = (jnp.asarray(z), jnp.asarray(patch), jnp.asarray(elim))
    return map_points(one, potential, *rows, mesh=mesh, budget=budget)


def default_n_points(variety, k: int) -> int:
    """10 N_k² + 5·10⁴ points for the T-iterations (the peer's setting, anchors.md)."""
    return 10 * section_basis(variety, k).shape[0] ** 2 + 50_000


def donaldson(
    variety: Variety,
    k: int,
    key,
    n_points: int | None = None,
    n_test: int = 20_000,
    n_iter: int = 10,
    progress=None,
    mesh=None,
) -> dict:
    """Balanced metric of degree k and its σ on fresh test points.

    Returns {"sigma", "sigma_error", "volume", "seconds", "n_basis", "potential"}; ``seconds``
    covers sampling, T-iterations and the σ evaluation; ``mesh``: the devices the points are
    sharded over (:mod:`ntkflow.parallel`)."""
    t0 = time.perf_counter()
    if not isinstance(k, int | np.integer) or k < 1:
        raise VarietyError(f"Donaldson degree k must be an integer >= 1, got {k!r}")
    section_basis(variety, k)  # refuses what it cannot do before sampling
    k1, _ = jax.random.split(key)
    n_points = n_points or default_n_points(variety, k)
    # one sampling call (one compilation) for the T-iteration points and the test points
    train, test = sample_points(variety, n_points + n_test, k1).split(n_test)
    pot = balanced_metric(variety, k, train, n_iter, progress, mesh=mesh)
    del train
    det = potential_det(variety, pot, test.z, test.patch, test.elim, mesh=mesh)
    sigma, err = sigma_measure(det, test.omega_sq, test.weights)
    vol = volume(det, test.omega_sq, test.weights)
    return {
        "sigma": sigma,
        "sigma_error": err,
        "volume": vol,
        "seconds": time.perf_counter() - t0,
        "n_basis": int(pot.exponents.shape[0]),
        "potential": pot,
    }
