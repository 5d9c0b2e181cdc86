"""Projective varieties: hypersurfaces and complete intersections in products of P^n.
Q(z) = Σ_m c_m Π_i z_i^{e_mi} for ONE point z (vmap for batches); Calabi-Yau by adjunction
(Hübsch ch. 1); singular members refused. Derivation: docs/derivations.md#cy-projective."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex


class VarietyError(ValueError):
    """Raised for an ill-formed, non-Calabi-Yau, or singular variety."""


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
    poly = {tuple(powers): 1}
    for degs in multidegrees:
        poly = _mul(poly, _hyperplanes(degs))
    return poly.get(tuple(ambient), 0)


def _mul(p: dict, q: dict, top: int | None = None) -> dict:
    """Product of two polynomials in J_1..J_F stored as {exponent tuple: coefficient}, without
    the monomials of degree above ``top``."""
    out: dict = {}
    for a, ca in p.items():
        for b, cb in q.items():
            m = tuple(x + y for x, y in zip(a, b, strict=True))
            if top is None or sum(m) <= top:
                out[m] = out.get(m, 0) + ca * cb
    return out


def _hyperplanes(degs: Sequence[float]) -> dict:
    """Σ_f d_f J_f as a polynomial (see :func:`_mul`)."""
    F = len(degs)
    return {tuple(int(g == f) for g in range(F)): d for f, d in enumerate(degs) if d}


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
    def multidegrees(self) -> tuple[tuple[int, ...], ...]:
        return tuple(q.multidegree for q in self.equations_list)

    def equations(self, z: Complex[Array, " n"]) -> Complex[Array, " E"]:
        """(Q_1(z), …, Q_E(z)) at one point."""
        return jnp.stack([q.polynomial(z) for q in self.equations_list])

    def jacobian(self, z: Complex[Array, " n"]) -> Complex[Array, "E n"]:
        """∂Q_e/∂z_j at one point."""
        return jnp.stack([q.gradient(z) for q in self.equations_list])

    def to_dict(self) -> dict:
        """JSON-able description (inverse: :func:`variety_from_dict`)."""
        cs = [np.asarray(q.coefficients) for q in self.equations_list]
        return {
            "kind": "hypersurface" if isinstance(self, Hypersurface) else "cicy",
            "name": self.name,
            "ambient": list(self.ambient),
            "exponents": [np.asarray(q.exponents).tolist() for q in self.equations_list],
            "coefficients_re": [c.real.tolist() for c in cs],
            "coefficients_im": [c.imag.tolist() for c in cs],
        }

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
        one = {(0,) * F: 1.0}
        poly = one  # the total Chern class, truncated at degree D
        for f, n in enumerate(self.ambient):
            for _ in range(n + 1):
                poly = _mul(poly, {**one, **_hyperplanes([float(g == f) for g in range(F)])}, D)
        for degs in self.multidegrees:
            x = _hyperplanes([-float(d) for d in degs])  # 1/(1 + x) = Σ_k (−x)^k
            inv, term = dict(one), dict(one)
            for _ in range(D):
                term = _mul(term, x, D)
                for m, c in term.items():
                    inv[m] = inv.get(m, 0.0) + c
            poly = _mul(poly, inv, D)
        chi = sum(
            c * intersection_number(self.multidegrees, self.ambient, m)
            for m, c in poly.items()
            if sum(m) == D
        )
        return int(round(chi))

    # subclasses provide: ambient, name, equations_list (the hypersurfaces Q_e = 0)


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
    def equations_list(self) -> tuple[Hypersurface]:
        return (self,)

    def polynomial(self, z: Complex[Array, " n"]) -> Complex[Array, ""]:
        """Q(z) at one point."""
        return _poly_value(z, self.exponents, self.coefficients, self.max_deg)

    def gradient(self, z: Complex[Array, " n"]) -> Complex[Array, " n"]:
        """Holomorphic gradient ∂Q/∂z_j at one point."""
        return _poly_gradient(z, self.exponents, self.coefficients, self.max_deg)


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
    def degree(self):
        return self.multidegrees


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
    (:func:`singularity`)."""
    msg = singularity(variety, n_starts, seed)
    if msg is not None:
        raise VarietyError(msg)


def variety_to_json(variety: Variety) -> str:
    return json.dumps(variety.to_dict())


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
    found: exact for the Dwork pencil (psi^5 = 1), else a Gauss-Newton search (a strong check,
    not a proof). Method: docs/derivations.md#cy-projective-singularity."""
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
