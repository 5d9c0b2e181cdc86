"""Projective varieties: hypersurfaces and complete intersections in products of P^n.

A variety lives in an ambient space P^{n_1} x ... x P^{n_F} (``ambient = [n_1, ..., n_F]``)
whose homogeneous coordinates are concatenated, factor after factor, into one complex vector
``z`` of length ``n_coords = sum(n_f + 1)``. It is cut out by E polynomials, each given by an
integer exponent matrix (rows = monomials, columns = coordinates) and complex coefficients:

    Q(z) = sum_m c_m prod_i z_i^{e_mi}                     (anchors.md, "Conventions")

Calabi-Yau condition (adjunction, Hubsch "Calabi-Yau manifolds" ch. 1): for every factor f the
multidegrees of the equations add up to n_f + 1; so a hypersurface in P^n has degree n + 1.
Smoothness is checked: the Dwork family Q = sum z_i^5 - 5 psi prod z_i is singular exactly when
psi^5 = 1 (Candelas-de la Ossa-Green-Parkes 1991); for any other input a numerical search for
critical points (Q = dQ = 0) runs and a singular member is refused with an error.

Everything here is written for ONE point ``z`` (complex, shape ``(n_coords,)``); vmap for
batches.
"""

from __future__ import annotations

import ast
import functools
import itertools
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex


class VarietyError(ValueError):
    """Raised for an ill-formed, non-Calabi-Yau, or singular variety."""


# ----------------------------------------------------------------------------------------------
# monomial evaluation (one point)
# ----------------------------------------------------------------------------------------------


def _power_table(z: Array, max_deg: int) -> Array:
    """``pw[i, p] = z_i^p`` for p = 0..max_deg, by cumulative products (no complex pow)."""
    n = z.shape[0]
    ones = jnp.ones((n, 1), dtype=z.dtype)
    reps = jnp.broadcast_to(z[:, None], (n, max_deg))
    return jnp.cumprod(jnp.concatenate([ones, reps], axis=1), axis=1)


def _monomials(z: Array, exponents: np.ndarray, max_deg: int) -> Array:
    """Values of the monomials z^{e_m}, shape (M,)."""
    pw = _power_table(z, max_deg)
    n = z.shape[0]
    return jnp.prod(pw[jnp.arange(n)[None, :], exponents], axis=1)


def _poly_value(z, exponents, coefficients, max_deg):
    return jnp.sum(coefficients * _monomials(z, exponents, max_deg))


def _poly_gradient(z, exponents, coefficients, max_deg):
    """dQ/dz_j = sum_m c_m e_mj z^{e_m - delta_j}, shape (n,)."""
    pw = _power_table(z, max_deg)
    n = z.shape[0]
    exponents = jnp.asarray(exponents)
    eye = jnp.eye(n, dtype=exponents.dtype)
    shifted = jnp.maximum(exponents[None, :, :] - eye[:, None, :], 0)  # (n, M, n)
    mono = jnp.prod(pw[jnp.arange(n)[None, None, :], shifted], axis=2)  # (n, M)
    return jnp.sum(coefficients[None, :] * exponents.T * mono, axis=1)


# ----------------------------------------------------------------------------------------------
# the varieties
# ----------------------------------------------------------------------------------------------


def _factor_slices(ambient: Sequence[int]) -> list[slice]:
    out, start = [], 0
    for n in ambient:
        out.append(slice(start, start + n + 1))
        start += n + 1
    return out


def _multidegree(exponents: np.ndarray, ambient: Sequence[int], where: str) -> tuple[int, ...]:
    degs = np.stack([exponents[:, s].sum(axis=1) for s in _factor_slices(ambient)], axis=1)
    if not (degs == degs[0]).all():
        raise VarietyError(
            f"{where}: polynomial is not homogeneous in each projective factor "
            f"(monomial multidegrees {sorted({tuple(map(int, d)) for d in degs})})"
        )
    return tuple(int(d) for d in degs[0])


def intersection_number(
    multidegrees: Sequence[Sequence[int]],
    ambient: Sequence[int],
    powers: Sequence[int],
) -> int:
    """∫_X prod_f J_f^{powers_f} for X cut out by equations of the given multidegrees:
    the coefficient of prod_f J_f^{n_f} in prod_e (sum_f d_ef J_f) * prod_f J_f^{powers_f}
    (Hubsch, "Calabi-Yau manifolds", §1.2; J_f the hyperplane class of factor f)."""
    F = len(ambient)
    poly: dict[tuple[int, ...], int] = {tuple(powers): 1}
    for degs in multidegrees:
        new: dict[tuple[int, ...], int] = {}
        for mono, c in poly.items():
            for f in range(F):
                if degs[f]:
                    m = list(mono)
                    m[f] += 1
                    new[tuple(m)] = new.get(tuple(m), 0) + c * degs[f]
        poly = new
    return poly.get(tuple(ambient), 0)


class _VarietyBase(eqx.Module):
    """Shared geometry of a complete intersection of E equations in prod P^{n_f}."""

    @property
    def n_coords(self) -> int:
        """Number of homogeneous coordinates, sum(n_f + 1)."""
        return sum(n + 1 for n in self.ambient)

    @property
    def n_factors(self) -> int:
        return len(self.ambient)

    @property
    def n_equations(self) -> int:
        return len(self.multidegrees)

    @property
    def dim(self) -> int:
        """Complex dimension of the variety, sum(n_f) - E."""
        return sum(self.ambient) - self.n_equations

    @property
    def factor_slices(self) -> list[slice]:
        return _factor_slices(self.ambient)

    @property
    def factor_index(self) -> np.ndarray:
        """For each coordinate, the projective factor it belongs to."""
        return np.repeat(np.arange(self.n_factors), [n + 1 for n in self.ambient])

    def fs_volume(self, t: Sequence[float] | float | None = None) -> float:
        """∫_X J^dim with J = sum_f t_f J_f the Fubini-Study class (t_f = 1 by default):
        an intersection number, e.g. 5 for the quintic, 18 for the bicubic."""
        ts = _moduli(t, self.n_factors)
        D = self.dim
        total = 0.0
        for powers in itertools.product(range(D + 1), repeat=self.n_factors):
            if sum(powers) != D:
                continue
            coeff = math.factorial(D) / math.prod(math.factorial(p) for p in powers)
            weight = math.prod(tf**p for tf, p in zip(ts, powers, strict=True))
            total += coeff * weight * intersection_number(self.multidegrees, self.ambient, powers)
        return float(total)

    def euler_characteristic_exact(self) -> int:
        """χ = ∫_X c_dim(TX) from the adjunction formula
        c(TX) = prod_f (1 + J_f)^{n_f+1} / prod_e (1 + sum_f d_ef J_f) (Hubsch §1.2)."""
        F, D = self.n_factors, self.dim
        # total Chern class as a dict over monomials in J_f, truncated at degree D
        poly: dict[tuple[int, ...], float] = {(0,) * F: 1.0}

        def mul(p, q):
            out: dict[tuple[int, ...], float] = {}
            for a, ca in p.items():
                for b, cb in q.items():
                    m = tuple(x + y for x, y in zip(a, b, strict=True))
                    if sum(m) <= D:
                        out[m] = out.get(m, 0.0) + ca * cb
            return out

        for f, n in enumerate(self.ambient):
            for _ in range(n + 1):
                e = [0] * F
                e[f] = 1
                poly = mul(poly, {(0,) * F: 1.0, tuple(e): 1.0})
        for degs in self.multidegrees:
            # 1/(1 + x) = sum_k (-x)^k, x = sum_f d_f J_f
            x = {}
            for f in range(F):
                if degs[f]:
                    e = [0] * F
                    e[f] = 1
                    x[tuple(e)] = -float(degs[f])
            inv = {(0,) * F: 1.0}
            term = {(0,) * F: 1.0}
            for _ in range(D):
                term = mul(term, x)
                for m, c in term.items():
                    inv[m] = inv.get(m, 0.0) + c
            poly = mul(poly, inv)
        total = 0.0
        for mono, c in poly.items():
            if sum(mono) == D:
                total += c * intersection_number(self.multidegrees, self.ambient, mono)
        return int(round(total))

    # subclasses provide: ambient, multidegrees, equations(z) -> (E,), jacobian(z) -> (E, n)

    def check_point_shape(self, z: Array, where: str = "point") -> None:
        if z.shape != (self.n_coords,):
            raise VarietyError(
                f"{where}: expected one point of shape ({self.n_coords},) for ambient "
                f"{list(self.ambient)}, got {z.shape}; vmap for batches"
            )


def _moduli(t, F: int) -> tuple[float, ...]:
    if t is None:
        return (1.0,) * F
    if np.ndim(t) == 0:
        return (float(t),) * F
    ts = tuple(float(x) for x in np.asarray(t).ravel())
    if len(ts) != F:
        raise VarietyError(f"Kähler moduli: expected {F} values (one per P^n factor), got {ts}")
    if min(ts) <= 0:
        raise VarietyError(f"Kähler moduli must be positive, got {ts}")
    return ts


class Hypersurface(_VarietyBase):
    """A hypersurface Q(z) = sum_m c_m z^{e_m} = 0 in P^{n_1} x ... x P^{n_F}.

    Fields: ``exponents`` (M, n_coords) int numpy, ``coefficients`` (M,) complex128,
    ``ambient`` list of P^n dimensions ([4] for the quintic), ``name``.
    """

    exponents: np.ndarray
    coefficients: Complex[Array, " M"]
    ambient: tuple[int, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True, default="hypersurface")
    max_deg: int = eqx.field(static=True, default=0)
    multidegree: tuple[int, ...] = eqx.field(static=True, default=())

    def __init__(
        self,
        exponents,
        coefficients,
        ambient: Sequence[int] | None = None,
        name: str = "hypersurface",
        check: bool = True,
        calabi_yau: bool = True,
    ):
        exps = np.asarray(exponents)
        if exps.ndim != 2 or exps.shape[0] == 0:
            raise VarietyError(
                f"{name}: exponents must be a non-empty (M, n_coords) integer matrix"
            )
        if not np.issubdtype(exps.dtype, np.integer):
            if not np.all(np.equal(np.mod(exps, 1), 0)):
                raise VarietyError(f"{name}: exponents must be integers")
        exps = exps.astype(np.int64)
        if (exps < 0).any():
            raise VarietyError(f"{name}: exponents must be non-negative")
        coeffs = np.asarray(coefficients, dtype=np.complex128).ravel()
        if coeffs.shape[0] != exps.shape[0]:
            raise VarietyError(
                f"{name}: {exps.shape[0]} monomials but {coeffs.shape[0]} coefficients"
            )
        if not np.isfinite(coeffs).all():
            raise VarietyError(f"{name}: coefficients contain NaN or inf")
        keep = coeffs != 0
        exps, coeffs = exps[keep], coeffs[keep]
        if exps.shape[0] == 0:
            raise VarietyError(f"{name}: the polynomial is identically zero")
        if ambient is None:
            ambient = [exps.shape[1] - 1]
        amb = tuple(int(a) for a in ambient)
        if min(amb) < 1 or sum(a + 1 for a in amb) != exps.shape[1]:
            raise VarietyError(
                f"{name}: ambient {list(amb)} needs {sum(a + 1 for a in amb)} coordinates, "
                f"the exponents have {exps.shape[1]} columns"
            )
        md = _multidegree(exps, amb, name)
        if calabi_yau and any(d != n + 1 for d, n in zip(md, amb, strict=True)):
            raise VarietyError(
                f"{name}: not Calabi-Yau: a hypersurface in "
                f"{' x '.join(f'P^{n}' for n in amb)} must have multidegree "
                f"{tuple(n + 1 for n in amb)}, got {md}"
            )
        self.exponents = exps
        self.coefficients = jnp.asarray(coeffs)
        self.ambient = amb
        self.name = name
        self.max_deg = int(exps.max())
        self.multidegree = md
        if check:
            check_smooth(self)

    @property
    def degree(self) -> int | tuple[int, ...]:
        """Degree (an int in a single P^n, else the multidegree tuple)."""
        return self.multidegree[0] if len(self.multidegree) == 1 else self.multidegree

    @property
    def multidegrees(self) -> tuple[tuple[int, ...], ...]:
        return (self.multidegree,)

    def polynomial(self, z: Complex[Array, " n"]) -> Complex[Array, ""]:
        """Q(z) at one point."""
        return _poly_value(z, self.exponents, self.coefficients, self.max_deg)

    def gradient(self, z: Complex[Array, " n"]) -> Complex[Array, " n"]:
        """Holomorphic gradient ∂Q/∂z_j at one point."""
        return _poly_gradient(z, self.exponents, self.coefficients, self.max_deg)

    def equations(self, z: Complex[Array, " n"]) -> Complex[Array, " 1"]:
        return self.polynomial(z)[None]

    def jacobian(self, z: Complex[Array, " n"]) -> Complex[Array, "1 n"]:
        return self.gradient(z)[None, :]

    def to_dict(self) -> dict:
        c = np.asarray(self.coefficients)
        return {
            "kind": "hypersurface",
            "name": self.name,
            "ambient": list(self.ambient),
            "exponents": [np.asarray(self.exponents).tolist()],
            "coefficients_re": [c.real.tolist()],
            "coefficients_im": [c.imag.tolist()],
        }


class CompleteIntersection(_VarietyBase):
    """A complete intersection Q_1 = ... = Q_E = 0 in P^{n_1} x ... x P^{n_F}.

    ``equations_list``: tuple of :class:`Hypersurface` (built without CY/smoothness checks);
    the CY condition is on the sum of their multidegrees.
    """

    equations_list: tuple[Hypersurface, ...]
    ambient: tuple[int, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True, default="cicy")

    def __init__(self, exponents_list, coefficients_list, ambient, name="cicy", check=True):
        amb = tuple(int(a) for a in ambient)
        if len(exponents_list) != len(coefficients_list) or not exponents_list:
            raise VarietyError(f"{name}: need as many coefficient lists as exponent matrices")
        eqs = tuple(
            Hypersurface(e, c, amb, name=f"{name}[{i}]", check=False, calabi_yau=False)
            for i, (e, c) in enumerate(zip(exponents_list, coefficients_list, strict=True))
        )
        total = np.sum([q.multidegree for q in eqs], axis=0)
        if any(int(d) != n + 1 for d, n in zip(total, amb, strict=True)):
            raise VarietyError(
                f"{name}: not Calabi-Yau: multidegrees of the equations must add up to "
                f"{tuple(n + 1 for n in amb)} per factor, got {tuple(int(d) for d in total)}"
            )
        if len(eqs) > sum(amb) - 1:
            raise VarietyError(f"{name}: {len(eqs)} equations leave no positive dimension")
        self.equations_list = eqs
        self.ambient = amb
        self.name = name
        if check:
            check_smooth(self)

    @property
    def multidegrees(self) -> tuple[tuple[int, ...], ...]:
        return tuple(q.multidegree for q in self.equations_list)

    @property
    def degree(self):
        return self.multidegrees

    def equations(self, z):
        return jnp.stack([q.polynomial(z) for q in self.equations_list])

    def jacobian(self, z):
        return jnp.stack([q.gradient(z) for q in self.equations_list])

    def to_dict(self) -> dict:
        return {
            "kind": "cicy",
            "name": self.name,
            "ambient": list(self.ambient),
            "exponents": [np.asarray(q.exponents).tolist() for q in self.equations_list],
            "coefficients_re": [
                np.asarray(q.coefficients).real.tolist() for q in self.equations_list
            ],
            "coefficients_im": [
                np.asarray(q.coefficients).imag.tolist() for q in self.equations_list
            ],
        }


Variety = Hypersurface | CompleteIntersection


def variety_from_dict(d: dict, check: bool = True) -> Variety:
    """Inverse of ``to_dict`` (used by saved point sets)."""
    exps = [np.asarray(e, dtype=np.int64) for e in d["exponents"]]
    coeffs = [
        np.asarray(r) + 1j * np.asarray(i)
        for r, i in zip(d["coefficients_re"], d["coefficients_im"], strict=True)
    ]
    if d.get("kind") == "hypersurface":
        return Hypersurface(exps[0], coeffs[0], d["ambient"], name=d.get("name", ""), check=check)
    return CompleteIntersection(exps, coeffs, d["ambient"], name=d.get("name", ""), check=check)


# ----------------------------------------------------------------------------------------------
# smoothness
# ----------------------------------------------------------------------------------------------


def _critical_residual(variety, z):
    """Scale-free residual of the singularity equations at z: |Q| and the minors of dQ."""
    J = variety.jacobian(z)  # (E, n)
    Qs = variety.equations(z)
    # singular iff the E x n Jacobian drops rank on X; smallest singular value (scale-free)
    zn = jnp.linalg.norm(z)
    s = jnp.linalg.svd(J, compute_uv=False)
    deg = jnp.array([sum(md) for md in variety.multidegrees], dtype=jnp.float64)
    return jnp.concatenate([jnp.abs(Qs) / zn**deg, s[-1:] / zn ** (jnp.max(deg) - 1)])


def check_smooth(variety, n_starts: int = 24, seed: int = 1234) -> None:
    """Refuse singular members. The Dwork pencil is checked exactly (psi^5 = 1 is singular);
    otherwise Gauss-Newton from ``n_starts`` random points per patch searches for solutions of
    Q = 0 with a rank-deficient Jacobian (for a hypersurface: dQ = 0, Euler's identity then
    gives Q = 0). Raises :class:`VarietyError` naming the singular point found.

    The numerical search is a strong check, not a proof: it finds singular points whose
    Newton basins the random starts reach (all the standard singular members are found)."""
    name = variety.name
    m = re.fullmatch(r"dwork:psi=(.+)", name)
    if m:
        psi = complex(m.group(1).replace("i", "j"))
        if abs(psi**5 - 1) < 1e-9:
            raise VarietyError(
                f"{name}: the Dwork quintic with psi^5 = 1 is singular (conifold point); "
                "choose psi with psi^5 != 1"
            )
        return
    if name in _KNOWN_SMOOTH:
        return
    if isinstance(variety, Hypersurface):
        z = _find_critical_point(variety, n_starts, seed)
        if z is not None:
            raise VarietyError(
                f"{name}: the hypersurface is singular: Q and all ∂Q/∂z vanish at "
                f"z = {np.round(z, 6).tolist()}"
            )


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


def _find_critical_point(variety: Hypersurface, n_starts: int, seed: int):
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


# ----------------------------------------------------------------------------------------------
# constructors
# ----------------------------------------------------------------------------------------------


def fermat(n: int, name: str | None = None) -> Hypersurface:
    """Fermat hypersurface sum_i z_i^{n+1} = 0 in P^n."""
    return Hypersurface(
        (n + 1) * np.eye(n + 1, dtype=np.int64), np.ones(n + 1), [n], name=name or f"fermat-{n}"
    )


def fermat_quintic() -> Hypersurface:
    """The Fermat quintic sum_{i=0}^4 z_i^5 = 0 in P^4 (χ = -200)."""
    return fermat(4, "fermat-quintic")


def dwork_quintic(psi: complex) -> Hypersurface:
    """Dwork family sum z_i^5 - 5 psi prod z_i = 0 in P^4; singular for psi^5 = 1."""
    exps = np.concatenate([5 * np.eye(5, dtype=np.int64), np.ones((1, 5), dtype=np.int64)])
    coeffs = np.concatenate([np.ones(5), [-5.0 * complex(psi)]])
    psi = complex(psi)
    label = f"{psi.real:g}" if psi.imag == 0 else f"{psi.real:g}{psi.imag:+g}j"
    return Hypersurface(exps, coeffs, [4], name=f"dwork:psi={label}")


def quartic_k3() -> Hypersurface:
    """Fermat quartic K3 surface sum z_i^4 = 0 in P^3 (χ = 24)."""
    return fermat(3, "quartic-k3")


def cubic_torus() -> Hypersurface:
    """Fermat cubic curve sum z_i^3 = 0 in P^2, an elliptic curve (χ = 0)."""
    return fermat(2, "cubic-torus")


def _multidegree_monomials(ambient, degrees) -> np.ndarray:
    blocks = []
    for n, d in zip(ambient, degrees, strict=True):
        blocks.append([e for e in itertools.product(range(d + 1), repeat=n + 1) if sum(e) == d])
    return np.array([sum(map(list, combo), []) for combo in itertools.product(*blocks)])


def _random_coefficients(m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=m) + 1j * rng.normal(size=m)


@functools.lru_cache(maxsize=8)
def bicubic(seed: int = 0) -> Hypersurface:
    """A bicubic P^2 x P^2 [3, 3]: all bidegree-(3,3) monomials with seeded random complex
    coefficients (generic, hence smooth; χ = -162)."""
    exps = _multidegree_monomials([2, 2], [3, 3])
    # generic coefficients: smooth with probability one; check_smooth(v) verifies numerically
    return Hypersurface(
        exps, _random_coefficients(len(exps), seed), [2, 2], name="bicubic", check=False
    )


@functools.lru_cache(maxsize=8)
def tetraquadric(seed: int = 0) -> Hypersurface:
    """A tetraquadric in (P^1)^4 of multidegree (2,2,2,2) with seeded random coefficients
    (χ = -128)."""
    exps = _multidegree_monomials([1, 1, 1, 1], [2, 2, 2, 2])
    return Hypersurface(
        exps, _random_coefficients(len(exps), seed), [1, 1, 1, 1], name="tetraquadric", check=False
    )


@functools.lru_cache(maxsize=8)
def cicy_p5_33(seed: int = 0) -> CompleteIntersection:
    """P^5[3,3]: two cubics in P^5, Fermat-type plus a seeded random perturbation
    (χ = -144)."""
    exps = _multidegree_monomials([5], [3])
    rng = np.random.default_rng(seed)
    c1 = 0.3 * (rng.normal(size=len(exps)) + 1j * rng.normal(size=len(exps)))
    c2 = 0.3 * (rng.normal(size=len(exps)) + 1j * rng.normal(size=len(exps)))
    e1 = np.array([3, 0, 0, 0, 0, 0])
    for i in range(3):
        c1[np.all(exps == np.roll(e1, i), axis=1)] += 1.0
        c2[np.all(exps == np.roll(e1, i + 3), axis=1)] += 1.0
    return CompleteIntersection([exps, exps], [c1, c2], [5], name="cicy:P5[3,3]", check=False)


# ----------------------------------------------------------------------------------------------
# polynomial strings
# ----------------------------------------------------------------------------------------------

_VAR = re.compile(r"^z(\d+)$")


def _parse_poly(text: str, where: str) -> dict[tuple[tuple[int, int], ...], complex]:
    """Expand a polynomial expression in z0, z1, ... into {monomial: coefficient}.

    Grammar: numbers (int, float, complex like ``2j`` or ``(1+2j)``; ``i`` is the imaginary
    unit), variables ``z<k>``, ``+ - *``, powers ``^`` or ``**`` with non-negative integer
    exponents, parentheses."""
    src = text.strip().replace("^", "**")
    src = re.sub(r"(?<![A-Za-z_0-9.])i(?![A-Za-z_0-9])", "1j", src)
    if not src:
        raise VarietyError(f"{where}: empty polynomial")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise VarietyError(f"{where}: ill-formed polynomial {text!r}: {e.msg}") from None

    def mul(p, q):
        out = {}
        for a, ca in p.items():
            for b, cb in q.items():
                d = dict(a)
                for k, v in b:
                    d[k] = d.get(k, 0) + v
                key = tuple(sorted(d.items()))
                out[key] = out.get(key, 0) + ca * cb
        return out

    def add(p, q, sign=1):
        out = dict(p)
        for k, v in q.items():
            out[k] = out.get(k, 0) + sign * v
        return out

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | complex):
            if isinstance(node.value, bool):
                raise VarietyError(f"{where}: unexpected {node.value!r}")
            return {(): complex(node.value)}
        if isinstance(node, ast.Name):
            m = _VAR.match(node.id)
            if not m:
                raise VarietyError(
                    f"{where}: unknown symbol {node.id!r} in {text!r} (use z0, z1, ...)"
                )
            return {((int(m.group(1)), 1),): 1.0 + 0j}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            p = ev(node.operand)
            return {k: -v for k, v in p.items()} if isinstance(node.op, ast.USub) else p
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add):
                return add(ev(node.left), ev(node.right))
            if isinstance(node.op, ast.Sub):
                return add(ev(node.left), ev(node.right), -1)
            if isinstance(node.op, ast.Mult):
                return mul(ev(node.left), ev(node.right))
            if isinstance(node.op, ast.Pow):
                e = ev(node.right)
                if list(e) != [()] or e[()].imag != 0 or e[()].real != int(e[()].real):
                    raise VarietyError(f"{where}: exponents must be non-negative integers")
                k = int(e[()].real)
                if k < 0 or k > 64:
                    raise VarietyError(f"{where}: exponent {k} out of range")
                base, out = ev(node.left), {(): 1.0 + 0j}
                for _ in range(k):
                    out = mul(out, base)
                return out
        raise VarietyError(f"{where}: ill-formed polynomial {text!r} (unsupported syntax)")

    return {k: v for k, v in ev(tree).items() if v != 0}


def _poly_to_arrays(poly, n_coords: int, where: str):
    if not poly:
        raise VarietyError(f"{where}: the polynomial is identically zero")
    top = max((k for mono in poly for k, _ in mono), default=-1)
    if top >= n_coords:
        raise VarietyError(
            f"{where}: uses z{top} but the ambient space has only {n_coords} coordinates"
        )
    monos = list(poly)
    exps = np.zeros((len(monos), n_coords), dtype=np.int64)
    for r, mono in enumerate(monos):
        for k, v in mono:
            exps[r, k] = v
    return exps, np.array([poly[m] for m in monos], dtype=np.complex128)


def hypersurface_from_string(
    text: str, ambient: Sequence[int] | None = None, name: str | None = None
) -> Hypersurface:
    """Hypersurface from a polynomial string in z0..zN, e.g. ``"z0^5+z1^5+z2^5+z3^5+z4^5"``.
    Without ``ambient`` the space is P^N with N the largest index used."""
    where = name or "polynomial"
    poly = _parse_poly(text, where)
    if ambient is None:
        top = max((k for mono in poly for k, _ in mono), default=-1)
        if top < 1:
            raise VarietyError(f"{where}: need at least the coordinates z0, z1")
        ambient = [top]
    n_coords = sum(int(a) + 1 for a in ambient)
    exps, coeffs = _poly_to_arrays(poly, n_coords, where)
    return Hypersurface(exps, coeffs, ambient, name=name or text.replace(" ", ""))


def variety_from_toml(path: str | Path) -> Variety:
    """Variety from a TOML file with ``ambient = [4]`` and either ``polynomial = "..."``,
    ``polynomials = ["...", "..."]`` (complete intersection), or ``exponents = [[...]]`` with
    ``coefficients = [...]`` (reals) or ``coefficients_re``/``coefficients_im``."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise VarietyError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise VarietyError(f"{path}: not valid TOML: {e}") from None
    name = data.get("name", path.stem)
    ambient = data.get("ambient")
    if "polynomial" in data:
        return hypersurface_from_string(data["polynomial"], ambient, name=name)
    if "polynomials" in data:
        if ambient is None:
            raise VarietyError(f"{path}: a complete intersection needs 'ambient'")
        n_coords = sum(int(a) + 1 for a in ambient)
        pairs = [
            _poly_to_arrays(_parse_poly(p, f"{path}:polynomials[{i}]"), n_coords, str(path))
            for i, p in enumerate(data["polynomials"])
        ]
        if len(pairs) == 1:
            return Hypersurface(pairs[0][0], pairs[0][1], ambient, name=name)
        return CompleteIntersection([p[0] for p in pairs], [p[1] for p in pairs], ambient, name)
    if "exponents" in data:
        if "coefficients" in data:
            coeffs = np.asarray(data["coefficients"], dtype=np.complex128)
        elif "coefficients_re" in data:
            coeffs = np.asarray(data["coefficients_re"]) + 1j * np.asarray(
                data.get("coefficients_im", np.zeros(len(data["coefficients_re"])))
            )
        else:
            raise VarietyError(f"{path}: 'exponents' given without 'coefficients'")
        return Hypersurface(data["exponents"], coeffs, ambient, name=name)
    raise VarietyError(f"{path}: needs 'polynomial', 'polynomials' or 'exponents'")


VARIETY_NAMES = (
    "fermat-quintic",
    "dwork:psi=<complex>",
    "quartic-k3",
    "cubic-torus",
    "bicubic",
    "tetraquadric",
    "cicy:P5[3,3]",
)


def variety_from_name(name: str) -> Variety:
    """Variety from a name (see ``VARIETY_NAMES``) or a path to a TOML file."""
    key = name.strip()
    simple = {
        "fermat-quintic": fermat_quintic,
        "quartic-k3": quartic_k3,
        "cubic-torus": cubic_torus,
        "bicubic": bicubic,
        "tetraquadric": tetraquadric,
        "cicy:P5[3,3]": cicy_p5_33,
    }
    if key in simple:
        return simple[key]()
    m = re.fullmatch(r"dwork:psi=(.+)", key)
    if m:
        try:
            psi = complex(m.group(1).replace(" ", "").replace("i", "j"))
        except ValueError:
            raise VarietyError(
                f"{name}: psi must be a complex number, e.g. dwork:psi=0.5"
            ) from None
        return dwork_quintic(psi)
    if key.endswith(".toml") or Path(key).is_file():
        return variety_from_toml(key)
    raise VarietyError(f"unknown variety {name!r}; known: {', '.join(VARIETY_NAMES)} or a .toml")


def variety_to_json(variety: Variety) -> str:
    return json.dumps(variety.to_dict())
