"""Point sampling on varieties with Shiffman-Zelditch weights w ∝ |Ω|²/det g_FS.
Roots of Q(p + t q) on random lines (Crofton; Shiffman-Zelditch 1999), Newton in float64.
Derivation: docs/derivations.md#cy-sampling.

Large samples are defined block by block (:func:`sample_rows`): row r of an n-point sample
lies in block b = ⌊r/B⌋ (B = :data:`SAMPLE_BLOCK`), and block b is
``sample_points(variety, min(B, n − b·B), fold_in(key, b))``, so any range of rows can be
produced by any process, alone, identically; :func:`sample_to_path` writes them to one file or
to a shard directory."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .fubini_study import FubiniStudy
from .kahler import pullback, pullback_jacobian
from .points import PointSet, concatenate, write_shards
from .variety import CompleteIntersection, Hypersurface, VarietyError, variety_to_json


class SamplingError(RuntimeError):
    """Raised when sampling cannot produce valid points."""


def _sphere(key, shape) -> np.ndarray:
    """Uniform points on the unit sphere of C^m: normalised complex Gaussians, shape (..., m)."""
    k1, k2 = jax.random.split(key)
    g = np.asarray(jax.random.normal(k1, shape)) + 1j * np.asarray(jax.random.normal(k2, shape))
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


def _companion_roots(c: np.ndarray) -> np.ndarray:
    """Roots of sum_j c[..., j] t^j (degree d = c.shape[-1] - 1), batched, shape (..., d)."""
    d = c.shape[-1] - 1
    a = c[..., :d] / c[..., d : d + 1]
    C = np.zeros(c.shape[:-1] + (d, d), dtype=np.complex128)
    C[..., np.arange(1, d), np.arange(0, d - 1)] = 1.0
    C[..., :, d - 1] = -a
    return np.linalg.eigvals(C)


def _line_coefficients(variety, base: np.ndarray, direc: np.ndarray, d: int) -> np.ndarray:
    """Coefficients c_j of Q(base + t direc) = sum_j c_j t^j from values at roots of unity."""
    omega = np.exp(2j * np.pi * np.arange(d + 1) / (d + 1))
    vals = np.asarray(_values_on_circle(variety, jnp.asarray(base), jnp.asarray(direc), omega))
    return np.fft.fft(vals, axis=-1) / (d + 1)


@jax.jit
def _values_on_circle(variety, base, direc, omega):
    pts = base[:, None, :] + omega[None, :, None] * direc[:, None, :]  # (L, d+1, n)
    return jax.vmap(jax.vmap(variety.polynomial))(pts)


@jax.jit
def _newton_line(variety, base, direc, t):
    def one(b, q, t):
        for _ in range(4):
            z = b + t * q
            t = t - variety.polynomial(z) / (variety.gradient(z) @ q)
        return t

    return jax.vmap(jax.vmap(one, in_axes=(None, None, 0)))(base, direc, t)


def _bucket(n: int) -> int:
    """The smallest m·2^j ≥ n with 8 ≤ m < 16 (at most 1/8 larger than n): batch sizes padded
    to these few shapes reuse compiled steps across calls and factors."""
    n = max(int(n), 8)
    step = 2 ** max(n.bit_length() - 4, 0)
    return -(-n // step) * step


def _pad_rows(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` padded to ``size`` rows with copies of its first row (results are discarded)."""
    return np.concatenate([a, np.repeat(a[:1], size - a.shape[0], axis=0)]) if size > len(a) else a


def _sample_hypersurface(variety: Hypersurface, n_points: int, key) -> np.ndarray:
    amb = variety.ambient
    F = len(amb)
    slices = variety.factor_slices
    degs = variety.multidegree
    probs = np.array(amb, dtype=float) / sum(amb)
    n_lines = math.ceil(1.02 * n_points / min(degs)) + 8
    key, sub = jax.random.split(key)
    if F == 1:
        counts = np.array([n_lines])
    else:
        u = np.asarray(jax.random.uniform(sub, (n_lines,)))
        which = np.minimum(np.searchsorted(np.cumsum(probs), u), F - 1)
        counts = np.bincount(which, minlength=F)
    out = []
    for f in range(F):
        L = int(counts[f])
        if L == 0:
            continue
        base = np.zeros((L, variety.n_coords), dtype=np.complex128)
        direc = np.zeros_like(base)
        for g, s in enumerate(slices):
            key, k1, k2 = jax.random.split(key, 3)
            base[:, s] = _sphere(k1, (L, amb[g] + 1))
            if g == f:
                direc[:, s] = _sphere(k2, (L, amb[g] + 1))
        # one padded line count for all factors: one compilation when the degrees agree
        size = _bucket(counts.max())
        base, direc = _pad_rows(base, size), _pad_rows(direc, size)
        c = _line_coefficients(variety, base, direc, degs[f])
        t = _companion_roots(c)
        t = np.asarray(_newton_line(variety, jnp.asarray(base), jnp.asarray(direc), jnp.asarray(t)))
        base, direc, t = base[:L], direc[:L], t[:L]
        out.append(
            (base[:, None, :] + t[..., None] * direc[:, None, :]).reshape(-1, variety.n_coords)
        )
    return np.concatenate(out)


def _sample_cicy(variety: CompleteIntersection, n_points: int, key) -> np.ndarray:
    if variety.n_factors != 1 or variety.n_equations != 2:
        raise SamplingError(
            f"{variety.name}: sampling is implemented for hypersurfaces in products of P^n and "
            "for two equations in one P^n"
        )
    n = variety.n_coords
    d1, d2 = variety.multidegrees[0][0], variety.multidegrees[1][0]
    nroots = d1 * d2
    n_planes = math.ceil(1.02 * n_points / nroots) + 4
    key, k1, k2, k3 = jax.random.split(key, 4)
    # orthonormal frame (a, b, c) of a random plane P^2: z = a + s b + u c
    frame = _sphere(k1, (n_planes, 3, n))
    frame = np.linalg.qr(np.swapaxes(frame, 1, 2))[0]  # (L, n, 3), unitary-invariant plane
    a, b, c = frame[..., 0], frame[..., 1], frame[..., 2]
    q1, q2 = variety.equations_list

    # resultant in u of the two polynomials in u (coefficients polynomial in s): evaluate the
    # Sylvester determinant at roots of unity in s, degree d1*d2 in s.
    m = nroots
    s_nodes = np.exp(2j * np.pi * np.arange(m + 1) / (m + 1))

    def u_coeffs(q, d, base, dirc):
        return _line_coefficients(q, base, dirc, d)  # (L', d+1) coefficient of u^j

    res_vals = np.zeros((n_planes, m + 1), dtype=np.complex128)
    for k, s in enumerate(s_nodes):
        base = a + s * b
        A = u_coeffs(q1, d1, base, c)
        B = u_coeffs(q2, d2, base, c)
        res_vals[:, k] = np.linalg.det(_sylvester(A, B))
    res_c = np.fft.fft(res_vals, axis=-1) / (m + 1)
    s_roots = _companion_roots(res_c)  # (L, m)
    # back-substitute: u = common root of the two univariate polynomials
    base = a[:, None, :] + s_roots[..., None] * b[:, None, :]  # (L, m, n)
    dirc = np.broadcast_to(c[:, None, :], base.shape)
    A = u_coeffs(q1, d1, base.reshape(-1, n), dirc.reshape(-1, n))
    u_roots = _companion_roots(A)  # (L*m, d1)
    zc = base.reshape(-1, 1, n) + u_roots[..., None] * dirc.reshape(-1, 1, n)
    r2 = np.abs(np.asarray(jax.vmap(jax.vmap(q2.polynomial))(jnp.asarray(zc))))
    best = np.argmin(r2, axis=1)
    z = zc[np.arange(zc.shape[0]), best]
    z = np.asarray(_newton_cicy(variety, jnp.asarray(z)))
    return z


def _sylvester(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Batched Sylvester matrices of polynomials with coefficient rows A (.., dA+1), B."""
    dA, dB = A.shape[-1] - 1, B.shape[-1] - 1
    size = dA + dB
    S = np.zeros(A.shape[:-1] + (size, size), dtype=np.complex128)
    for i in range(dB):
        S[..., i, i : i + dA + 1] = A[..., ::-1]
    for i in range(dA):
        S[..., dB + i, i : i + dB + 1] = B[..., ::-1]
    return S


@jax.jit
def _newton_cicy(variety, z):
    def one(z):
        for _ in range(5):
            J = variety.jacobian(z)
            dz = jnp.linalg.pinv(J) @ variety.equations(z)  # minimum-norm Newton step
            z = z - dz
        return z

    return jax.vmap(one)(z)


def _elim_candidates(n_coords: int, n_eq: int) -> np.ndarray:
    return np.array(list(itertools.combinations(range(n_coords), n_eq)), dtype=np.int32)


def _finalize_one(variety, z, combos, fs):
    """Scale to patches, choose elim, compute |Ω|² and det g_FS for one point."""
    patches = []
    for s in variety.factor_slices:
        i = jnp.argmax(jnp.abs(z[s])) + s.start
        z = z.at[s].divide(z[i])
        patches.append(i)
    patch = jnp.stack(patches)
    dQ = variety.jacobian(z)  # (E, n)
    if combos.shape[1] == 1:
        dets = jnp.abs(dQ[0, combos[:, 0]])
    else:
        dets = jax.vmap(lambda c: jnp.abs(jnp.linalg.det(dQ[:, c])))(combos)
    bad = jnp.any(combos[:, :, None] == patch[None, None, :], axis=(1, 2))
    elim = combos[jnp.argmax(jnp.where(bad, -1.0, dets))]
    omega_sq = 1.0 / jnp.max(jnp.where(bad, -1.0, dets)) ** 2
    J = pullback_jacobian(variety, z, patch, elim)
    det_fs = jnp.real(jnp.linalg.det(pullback(fs.ambient_metric(z), J)))
    resid = jnp.max(jnp.abs(variety.equations(z)))
    return z, patch, elim, omega_sq, det_fs, resid


_finalize = jax.jit(jax.vmap(_finalize_one, in_axes=(None, 0, None, None)))


def sample_points(variety, n_points: int, key, tol: float = 1e-10) -> PointSet:
    """Sample ``n_points`` points on ``variety`` with Shiffman-Zelditch weights: a
    :class:`PointSet` (float64/complex128) on X to ``tol`` (absolute, every factor's largest
    coordinate 1); the rare root that fails (a line nearly tangent to X) is dropped and replaced."""
    if not isinstance(n_points, int | np.integer) or n_points <= 0:
        raise SamplingError(f"n_points must be a positive integer, got {n_points!r}")
    if isinstance(variety, Hypersurface):
        sampler = _sample_hypersurface
    elif isinstance(variety, CompleteIntersection):
        sampler = _sample_cicy
    else:
        raise VarietyError(f"cannot sample on {type(variety).__name__}")
    combos = jnp.asarray(_elim_candidates(variety.n_coords, variety.n_equations))
    fs = FubiniStudy(variety.ambient)
    vfs = variety.fs_volume()
    parts, have = [], 0
    for _attempt in range(5):
        key, sub = jax.random.split(key)
        need = n_points - have
        raw = sampler(variety, need, sub)
        n_raw = raw.shape[0]
        padded = jnp.asarray(_pad_rows(raw, _bucket(n_raw)))
        z, patch, elim, omega_sq, det_fs, resid = (
            np.asarray(a)[:n_raw] for a in _finalize(variety, padded, combos, fs)
        )
        ok = (
            np.isfinite(z).all(axis=1)
            & (resid < tol)
            & np.isfinite(omega_sq)
            & np.isfinite(det_fs)
            & (det_fs > 0)
        )
        key, sub = jax.random.split(key)
        idx = np.nonzero(ok)[0]
        idx = idx[np.asarray(jax.random.permutation(sub, idx.shape[0]))][:need]
        parts.append((z[idx], patch[idx], elim[idx], omega_sq[idx], det_fs[idx]))
        have += idx.shape[0]
        if have >= n_points:
            break
    if have < n_points:
        raise SamplingError(
            f"{variety.name}: only {have} of {n_points} points met |Q| < {tol}; is the variety "
            "singular or badly scaled?"
        )
    z, patch, elim, omega_sq, det_fs = (np.concatenate(c) for c in zip(*parts, strict=True))
    if variety.n_factors == 1:
        patch = patch[:, 0]
    if variety.n_equations == 1:
        elim = elim[:, 0]
    weights = vfs * omega_sq / det_fs
    return PointSet(
        jnp.asarray(z),
        jnp.asarray(patch.astype(np.int64)),
        jnp.asarray(elim.astype(np.int64)),
        jnp.asarray(weights),
        jnp.asarray(omega_sq),
        variety.name,
        variety_to_json(variety),
    )


SAMPLE_BLOCK = 65_536
"""Rows per block of a blocked sample (:func:`sample_rows`): part of the definition of the
points of a given seed, so never changed lightly."""


def sample_rows(
    variety,
    n_points: int,
    key,
    start: int = 0,
    stop: int | None = None,
    progress: Callable[[int], None] | None = None,
    blocks: dict | None = None,
) -> PointSet:
    """Rows ``start..stop-1`` of the blocked ``n_points``-point sample of ``key``: with
    B = :data:`SAMPLE_BLOCK`, block b holds rows b·B … min((b+1)·B, n) − 1 and is
    ``sample_points(variety, min(B, n − b·B), jax.random.fold_in(key, b))``. Only the blocks
    meeting the range are sampled, so splitting a range among processes changes nothing.
    ``progress(k)`` is called after each block with its k rows in the range. Host arrays.
    ``blocks``: a dict kept by the caller across calls for one sample (b → block), so that
    several ranges of it sample each block once."""
    if not isinstance(n_points, int | np.integer) or n_points <= 0:
        raise SamplingError(f"n_points must be a positive integer, got {n_points!r}")
    stop = n_points if stop is None else int(stop)
    start = int(start)
    if not 0 <= start < stop <= n_points:
        raise SamplingError(f"sample_rows: rows {start}..{stop - 1} not within 0..{n_points - 1}")
    parts = []
    for b in range(start // SAMPLE_BLOCK, (stop - 1) // SAMPLE_BLOCK + 1):
        b0 = b * SAMPLE_BLOCK
        size = min(SAMPLE_BLOCK, n_points - b0)
        if blocks is not None and b in blocks:
            block = blocks[b]
        else:
            block = sample_points(variety, size, jax.random.fold_in(key, b))
            if blocks is not None:
                blocks[b] = block
        lo, hi = max(start, b0) - b0, min(stop, b0 + size) - b0
        block = jax.tree.map(lambda a, lo=lo, hi=hi: np.asarray(a)[lo:hi], block)
        parts.append(block)
        if progress is not None:
            progress(hi - lo)
    return concatenate(parts)


DEFAULT_SHARD_SIZE = 1_000_000
"""Points per shard file of ``ntkflow cy sample`` (samples up to this size go to one file)."""


def shard_counts(n_points: int, shard_size: int) -> list[int]:
    """Rows of each shard: ⌈n/s⌉ shards of ``shard_size`` rows, the last one the remainder."""
    if shard_size < 1:
        raise SamplingError(f"shard size must be at least 1, got {shard_size}")
    full, rest = divmod(int(n_points), int(shard_size))
    return [int(shard_size)] * full + ([rest] if rest else [])


def sample_to_path(
    variety,
    n_points: int,
    seed: int,
    out: str | Path,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress=None,
) -> Path:
    """Sample the blocked ``n_points``-point sample of ``PRNGKey(seed)`` (:func:`sample_rows`)
    into ``out``: one ``.npz`` when ``n_points ≤ shard_size``, else a shard directory
    (``out`` without its ``.npz`` suffix) of ``shard_size``-row shards written by
    :func:`ntkflow.cy.points.write_shards` (one process's shards at a time in memory).
    ``progress(label, total)``: a context manager yielding ``advance(k)``, one per file.
    Returns the path written."""
    import contextlib

    from .points import check_output

    key = jax.random.PRNGKey(seed)
    out = Path(out)
    progress = progress or (lambda label, total: contextlib.nullcontext(lambda *a, **k: None))
    if n_points <= shard_size:
        path = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
        check_output(path, sharded=False)
        with progress("sampling", int(n_points)) as advance:
            ps = sample_rows(variety, n_points, key, progress=lambda k: advance(k))
        return ps.save(path)
    directory = out.with_suffix("") if out.suffix == ".npz" else out
    return write_shards(
        directory,
        shard_counts(n_points, shard_size),
        lambda a, b, advance: sample_rows(variety, n_points, key, a, b, progress=advance),
        {"seed": int(seed), "block": SAMPLE_BLOCK, "sampler": "ntkflow.cy.sampling.sample_rows"},
        progress=progress,
    )
