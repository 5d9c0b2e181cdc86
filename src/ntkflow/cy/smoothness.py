"""Smoothness of a variety: exact for the Dwork pencil, a critical-point search otherwise.

X = {Q = 0} is singular where Q and all ∂Q/∂z_j vanish (for a complete intersection: where the
Jacobian of the equations drops rank on X). The Dwork family Σ z_i⁵ − 5ψ ∏ z_i is singular
exactly when ψ⁵ = 1 (Candelas–de la Ossa–Green–Parkes 1991). For any other hypersurface
damped Gauss–Newton on ∇Q = 0 from random starts in each affine patch searches for singular
points: a strong check, not a proof.

The functions here work on any variety object with ``name``, ``n_coords``, ``n_equations``,
``multidegrees``, ``factor_slices``, ``gradient``, ``equations`` and ``jacobian`` (see
:mod:`ntkflow.cy.projective`); they return a message and leave raising to the caller.
"""

from __future__ import annotations

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np


def _critical_residual(variety, z):
    """Scale-free residual of the singularity equations at z: |Q| and the minors of dQ."""
    J = variety.jacobian(z)  # (E, n)
    Qs = variety.equations(z)
    # singular iff the E x n Jacobian drops rank on X; smallest singular value (scale-free)
    zn = jnp.linalg.norm(z)
    s = jnp.linalg.svd(J, compute_uv=False)
    deg = jnp.array([sum(md) for md in variety.multidegrees], dtype=jnp.float64)
    return jnp.concatenate([jnp.abs(Qs) / zn**deg, s[-1:] / zn ** (jnp.max(deg) - 1)])


def singularity(variety, n_starts: int = 24, seed: int = 1234) -> str | None:
    """Why ``variety`` is singular (one line naming the singular point), or None if none is
    found. The Dwork pencil is checked exactly (psi^5 = 1 is singular); otherwise Gauss-Newton
    from ``n_starts`` random points per patch searches for solutions of Q = 0 with a
    rank-deficient Jacobian (for a hypersurface: dQ = 0, Euler's identity then gives Q = 0).

    The numerical search is a strong check, not a proof: it finds singular points whose
    Newton basins the random starts reach (all the standard singular members are found)."""
    name = variety.name
    m = re.fullmatch(r"dwork:psi=(.+)", name)
    if m:
        psi = complex(m.group(1).replace("i", "j"))
        if abs(psi**5 - 1) < 1e-9:
            return (
                f"{name}: the Dwork quintic with psi^5 = 1 is singular (conifold point); "
                "choose psi with psi^5 != 1"
            )
        return None
    if name in _KNOWN_SMOOTH:
        return None
    if variety.n_equations == 1:
        z = _find_critical_point(variety, n_starts, seed)
        if z is not None:
            return (
                f"{name}: the hypersurface is singular: Q and all ∂Q/∂z vanish at "
                f"z = {np.round(z, 6).tolist()}"
            )
    return None


_KNOWN_SMOOTH = {"fermat-quintic", "quartic-k3", "cubic-torus"}


@jax.jit
def _gauss_newton_critical(variety, z0, free_mask):
    """40 damped Gauss-Newton steps on grad Q = 0 (free coordinates only), batched."""

    def step(z, free):
        g = variety.gradient(z)
        H = jax.jacfwd(variety.gradient, holomorphic=True)(z) * free[None, :]
        dz = jnp.where(free, jnp.linalg.lstsq(H, -g)[0], 0)
        scale = jnp.minimum(1.0, 2.0 * (1 + jnp.linalg.norm(z)) / (jnp.linalg.norm(dz) + 1e-300))
        return z + scale * dz

    def body(_, z):
        return jax.vmap(jax.vmap(step, in_axes=(0, None)), in_axes=(0, 0))(z, free_mask)

    return jax.lax.fori_loop(0, 40, body, z0)


def _find_critical_point(variety, n_starts: int, seed: int):
    """Gauss-Newton on grad Q(z) = 0 within each affine patch of each factor."""
    n = variety.n_coords
    key = jax.random.PRNGKey(seed)
    slices = variety.factor_slices
    patches = list(itertools.product(*[range(s.start, s.stop) for s in slices]))
    rng = np.random.default_rng(seed)
    if len(patches) > 8:
        patches = [patches[i] for i in rng.choice(len(patches), 8, replace=False)]
    patches = np.asarray(patches)
    P = len(patches)
    key, sub = jax.random.split(key)
    z0 = jax.random.normal(sub, (P, n_starts, n, 2)) @ jnp.array([1.0, 1j])
    mask = np.ones((P, n), dtype=bool)
    for i, p in enumerate(patches):
        mask[i, p] = False
    mask_b = jnp.asarray(mask)[:, None, :]
    z0 = jnp.where(mask_b, z0, 1.0 + 0j)

    z = np.asarray(_gauss_newton_critical(variety, z0, jnp.asarray(mask)))
    flat = z.reshape(-1, n)
    flat = flat[np.isfinite(flat).all(axis=1)]
    if flat.shape[0] == 0:
        return None
    res = np.asarray(jax.vmap(lambda u: _critical_residual(variety, u))(jnp.asarray(flat)))
    bad = np.nonzero(res.max(axis=1) < 1e-9)[0]
    if bad.size:
        zz = flat[bad[0]]
        for s in slices:
            zz[s] = zz[s] / zz[s][np.argmax(np.abs(zz[s]))]
        return zz
    return None


__all__ = ["singularity"]
