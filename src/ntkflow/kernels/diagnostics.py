"""Kernel diagnostics: relative change ‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F (paper §6, claim 2; Lee et al.
2019); the spectrum of Θ as a symmetric operator on R^{N n²}, dense or from products v ↦ Θ v
by Lanczos (Golub & Van Loan §10.1) or the randomized eigensolver (Halko, Martinsson & Tropp
2011, Alg. 4.4 + 5.3); kernel–target alignment A(Θ, y) = yᵀ Θ y / (‖Θ‖_F ‖y‖²) (Cristianini et
al. 2002).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from .empirical import kernel_vector_product


def as_matrix(theta: Array) -> Array:
    """Θ of shape (N1, N2), (N1, N2, m, m) or (N1, N2, n, n, n, n) as an (N1·a, N2·a) matrix
    with row index (x, ij)."""
    theta = jnp.asarray(theta)
    if theta.ndim not in (2, 4, 6):
        raise ValueError(
            f"as_matrix: expected a kernel with 2, 4 or 6 axes, got shape {theta.shape}"
        )
    k = (theta.ndim - 2) // 2  # output axes per point
    perm = (0, *range(2, 2 + k), 1, *range(2 + k, theta.ndim))
    rows = theta.shape[0] * int(np.prod(theta.shape[2 : 2 + k]))
    return theta.transpose(perm).reshape(rows, -1)


def relative_change(theta_t: Array, theta_0: Array) -> Array:
    """‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F."""
    if jnp.shape(theta_t) != jnp.shape(theta_0):
        raise ValueError(
            f"relative_change: shapes differ, {jnp.shape(theta_t)} vs {jnp.shape(theta_0)}"
        )
    return jnp.linalg.norm(jnp.ravel(theta_t - theta_0)) / jnp.linalg.norm(jnp.ravel(theta_0))


def spectrum(theta: Array) -> Array:
    """All eigenvalues of the (square, symmetric) kernel, descending (dense ``eigh``)."""
    k = as_matrix(theta)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"spectrum: the kernel must be square (x1 = x2), got {k.shape}")
    return jnp.linalg.eigvalsh(0.5 * (k + k.T))[::-1]


def lanczos_eigenvalues(
    matvec: Callable[[Array], Array],
    dim: int,
    k: int,
    *,
    key: PRNGKeyArray,
    iters: int | None = None,
) -> np.ndarray:
    """The ``k`` largest eigenvalues of a symmetric operator from ``iters`` Lanczos steps
    (default min(dim, 2k + 20)) with full re-orthogonalisation; descending."""
    iters = min(dim, 2 * k + 20) if iters is None else min(iters, dim)
    if not 1 <= k <= iters:
        raise ValueError(f"lanczos_eigenvalues: need 1 <= k <= iters <= dim, got k={k}, {iters}")
    q = np.array(jax.random.normal(key, (dim,)), dtype=np.float64)
    q /= np.linalg.norm(q)
    basis = [q]
    alphas, betas = [], []
    for j in range(iters):
        w = np.asarray(matvec(jnp.asarray(basis[j])), dtype=np.float64)
        alphas.append(float(w @ basis[j]))
        qs = np.stack(basis)
        for _ in range(2):  # full re-orthogonalisation, twice is enough
            w = w - qs.T @ (qs @ w)
        beta = float(np.linalg.norm(w))
        if j == iters - 1 or beta < 1e-12 * max(1.0, abs(alphas[0])):
            break
        betas.append(beta)
        basis.append(w / beta)
    off = betas[: len(alphas) - 1]
    t = np.diag(alphas) + np.diag(off, 1) + np.diag(off, -1)
    return np.sort(np.linalg.eigvalsh(t))[::-1][:k]


def randomized_eigenvalues(
    matvec: Callable[[Array], Array],
    dim: int,
    k: int,
    *,
    key: PRNGKeyArray,
    oversample: int = 10,
    power_iters: int = 2,
) -> np.ndarray:
    """The ``k`` largest eigenvalues of a symmetric positive semi-definite operator by a
    randomized range finder with ``power_iters`` subspace iterations; descending."""
    p = min(dim, k + oversample)
    if not 1 <= k <= p:
        raise ValueError(f"randomized_eigenvalues: need 1 <= k <= dim, got k={k}, dim={dim}")
    mv = jax.vmap(matvec, in_axes=1, out_axes=1)
    y = np.asarray(mv(jax.random.normal(key, (dim, p))), dtype=np.float64)
    q, _ = np.linalg.qr(y)
    for _ in range(power_iters):
        q, _ = np.linalg.qr(np.asarray(mv(jnp.asarray(q)), dtype=np.float64))
    b = q.T @ np.asarray(mv(jnp.asarray(q)), dtype=np.float64)
    return np.sort(np.linalg.eigvalsh(0.5 * (b + b.T)))[::-1][:k]


def ntk_top_eigenvalues(
    model,
    xs: Array,
    k: int,
    *,
    key: PRNGKeyArray,
    method: str = "lanczos",
    chunk_size: int | None = None,
    **kwargs,
) -> np.ndarray:
    """Largest eigenvalues of the empirical (metric-)NTK on ``xs`` without forming it."""
    shape = (xs.shape[0], *jax.eval_shape(model, xs[0]).shape)
    dim = int(np.prod(shape))

    def matvec(v):
        return kernel_vector_product(model, xs, v.reshape(shape), chunk_size=chunk_size).reshape(-1)

    solvers = {"lanczos": lanczos_eigenvalues, "randomized": randomized_eigenvalues}
    if method not in solvers:
        raise ValueError(
            f"ntk_top_eigenvalues: method must be 'lanczos' or 'randomized', got {method!r}"
        )
    return solvers[method](matvec, dim, k, key=key, **kwargs)


def kernel_target_alignment(theta: Array, y: Array) -> Array:
    """A(Θ, y) = yᵀ Θ y / (‖Θ‖_F ‖y‖²) with y flattened in the order of :func:`as_matrix`."""
    k = as_matrix(theta)
    y = jnp.ravel(jnp.asarray(y))
    if k.shape != (y.size, y.size):
        raise ValueError(
            f"kernel_target_alignment: kernel of size {k.shape} does not match {y.size} targets"
        )
    return (y @ k @ y) / (jnp.linalg.norm(k) * (y @ y))
