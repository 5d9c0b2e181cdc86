"""Projective varieties: hypersurfaces and complete intersections in products of P^n.

A variety lives in an ambient space P^{n_1} x ... x P^{n_F} (``ambient = [n_1, ..., n_F]``)
whose homogeneous coordinates are concatenated, factor after factor, into one complex vector
``z`` of length ``n_coords = sum(n_f + 1)``. It is cut out by E polynomials, each given by an
integer exponent matrix (rows = monomials, columns = coordinates) and complex coefficients:

    Q(z) = sum_m c_m prod_i z_i^{e_mi}                     (anchors.md, "Conventions")

Calabi-Yau condition (adjunction, Hubsch "Calabi-Yau manifolds" ch. 1): for every factor f the
multidegrees of the equations add up to n_f + 1; so a hypersurface in P^n has degree n + 1.
Smoothness is checked on construction (:mod:`ntkflow.cy.smoothness`) and a singular member is
refused with an error. Named varieties and parsing live in :mod:`ntkflow.cy.catalogue`;
:mod:`ntkflow.cy.variety` re-exports everything.

Everything here is written for ONE point ``z`` (complex, shape ``(n_coords,)``); vmap for
batches.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex

from .smoothness import singularity


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


def check_smooth(variety, n_starts: int = 24, seed: int = 1234) -> None:
    """Refuse a singular member with a :class:`VarietyError` naming the singular point found
    (:func:`ntkflow.cy.smoothness.singularity`)."""
    msg = singularity(variety, n_starts, seed)
    if msg is not None:
        raise VarietyError(msg)


def variety_to_json(variety: Variety) -> str:
    return json.dumps(variety.to_dict())
