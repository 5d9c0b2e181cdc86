"""Named Calabi-Yau varieties (``VARIETY_NAMES``), polynomial strings and TOML files.
Names and input syntax: docs/derivations.md#cy-catalogue."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .projective import CompleteIntersection, Hypersurface, Variety, VarietyError


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


def _generic(ambient: list[int], seed: int, name: str) -> Hypersurface:
    """All monomials of multidegree (n_f + 1)_f with seeded random complex coefficients
    (generic, hence smooth with probability one; ``check_smooth`` verifies numerically)."""
    from .sections import multidegree_monomials

    exps = multidegree_monomials(ambient, [n + 1 for n in ambient])
    rng = np.random.default_rng(seed)
    coeffs = rng.normal(size=len(exps)) + 1j * rng.normal(size=len(exps))
    return Hypersurface(exps, coeffs, ambient, name=name, check=False)


@functools.lru_cache(maxsize=8)
def bicubic(seed: int = 0) -> Hypersurface:
    """A generic bicubic P^2 x P^2 [3, 3] (χ = -162)."""
    return _generic([2, 2], seed, "bicubic")


@functools.lru_cache(maxsize=8)
def tetraquadric(seed: int = 0) -> Hypersurface:
    """A generic tetraquadric in (P^1)^4 of multidegree (2,2,2,2) (χ = -128)."""
    return _generic([1, 1, 1, 1], seed, "tetraquadric")


@functools.lru_cache(maxsize=8)
def cicy_p5_33(seed: int = 0) -> CompleteIntersection:
    """P^5[3,3]: two cubics in P^5, Fermat-type plus a seeded random perturbation
    (χ = -144)."""
    from .sections import multidegree_monomials

    exps = multidegree_monomials([5], [3])
    rng = np.random.default_rng(seed)
    c1 = 0.3 * (rng.normal(size=len(exps)) + 1j * rng.normal(size=len(exps)))
    c2 = 0.3 * (rng.normal(size=len(exps)) + 1j * rng.normal(size=len(exps)))
    e1 = np.array([3, 0, 0, 0, 0, 0])
    for i in range(3):
        c1[np.all(exps == np.roll(e1, i), axis=1)] += 1.0
        c2[np.all(exps == np.roll(e1, i + 3), axis=1)] += 1.0
    return CompleteIntersection([exps, exps], [c1, c2], [5], name="cicy:P5[3,3]", check=False)


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
