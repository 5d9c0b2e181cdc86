"""Sampled points on a variety, with their integration weights.

A :class:`PointSet` holds N points z (complex128, shape (N, n_coords)), each scaled so that in
every projective factor its patch coordinate (the one of largest |z_i|) equals 1, and

- ``patch``  : the patch coordinate, shape (N,) for one P^n factor, else (N, F);
- ``elim``   : the eliminated coordinate (largest |∂Q/∂z_j| among the non-patch ones),
               shape (N,) for one equation, else (N, E);
- ``omega_sq``: |Ω|² = 1/|det ∂Q/∂z_elim|² in that chart (Poincaré residue);
- ``weights``: w = V_FS · |Ω|² / det g_FS, with g_FS the pulled-back Fubini-Study metric at
  t = 1 and V_FS = ∫_X J_FS^dim (an intersection number, 5 for the quintic). The points are
  distributed with density ∝ det g_FS (Shiffman-Zelditch; anchors.md "Integration weights"),
  so for any function f: (1/N) Σ f_i w_i/|Ω|²_i → dim! ∫_X f d^{2 dim}x, and for a metric g
  with η = det g/|Ω|², ⟨η w⟩ → ∫_X ω_g^dim, the volume (5 for FS on the quintic).

``.npz`` keys (``PointSet.save``): ``z`` (N, n_coords) complex128, ``patch`` int64,
``elim`` int64, ``weights`` float64 (N,), ``omega_sq`` float64 (N,), ``variety_name`` str,
``variety_json`` str (exponents, coefficients, ambient: enough to rebuild the variety),
``format`` = "ntkflow.pointset/1".
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

FORMAT = "ntkflow.pointset/1"
_KEYS = ("z", "patch", "elim", "weights", "omega_sq", "variety_name", "variety_json", "format")


class PointSetError(ValueError):
    """Raised for an unreadable, empty, truncated or foreign point file."""


class PointSet(eqx.Module):
    """Weighted points on a variety (see module docstring for the conventions)."""

    z: Complex[Array, "N n"]
    patch: Int[Array, " N"]
    elim: Int[Array, " N"]
    weights: Float[Array, " N"]
    omega_sq: Float[Array, " N"]
    variety_name: str = eqx.field(static=True, default="")
    variety_json: str = eqx.field(static=True, default="")

    def __len__(self) -> int:
        return int(self.z.shape[0])

    @property
    def n_coords(self) -> int:
        return int(self.z.shape[1])

    def take(self, idx) -> PointSet:
        """Subset by an index array (or slice)."""
        idx = np.asarray(idx) if not isinstance(idx, slice) else idx
        return PointSet(
            self.z[idx],
            self.patch[idx],
            self.elim[idx],
            self.weights[idx],
            self.omega_sq[idx],
            self.variety_name,
            self.variety_json,
        )

    def split(self, n_test: int) -> tuple[PointSet, PointSet]:
        """(train, test): the last ``n_test`` points form the test set (points are i.i.d.)."""
        n = len(self)
        if not 0 <= n_test <= n:
            raise PointSetError(f"split: n_test = {n_test} not in [0, {n}]")
        return self.take(slice(0, n - n_test)), self.take(slice(n - n_test, n))

    def variety(self, check: bool = False):
        """Rebuild the variety the points were sampled on."""
        from .variety import variety_from_dict

        if not self.variety_json:
            raise PointSetError("point set carries no variety description")
        return variety_from_dict(json.loads(self.variety_json), check=check)

    def save(self, path: str | Path) -> Path:
        """Write the documented ``.npz`` (see module docstring)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = (
                path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            z=np.asarray(self.z),
            patch=np.asarray(self.patch, dtype=np.int64),
            elim=np.asarray(self.elim, dtype=np.int64),
            weights=np.asarray(self.weights, dtype=np.float64),
            omega_sq=np.asarray(self.omega_sq, dtype=np.float64),
            variety_name=np.array(self.variety_name),
            variety_json=np.array(self.variety_json),
            format=np.array(FORMAT),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> PointSet:
        """Read a file written by :meth:`save`, with clear errors for a missing, empty,
        truncated or foreign file."""
        path = Path(path)
        if not path.exists():
            raise PointSetError(f"{path}: no such point file")
        if path.stat().st_size == 0:
            raise PointSetError(f"{path}: empty file, not a point set")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in _KEYS if k not in data.files]
                if missing:
                    raise PointSetError(
                        f"{path}: not an ntkflow point set (missing keys {missing}); "
                        "write one with `ntkflow cy sample`"
                    )
                fmt = str(data["format"])
                if fmt != FORMAT:
                    raise PointSetError(f"{path}: unknown point-set format {fmt!r}")
                arrays = {k: data[k] for k in _KEYS}
        except PointSetError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise PointSetError(f"{path}: unreadable or truncated point file ({e})") from None
        z = arrays["z"]
        n = z.shape[0] if z.ndim == 2 else -1
        if n <= 0:
            raise PointSetError(f"{path}: contains no points")
        for k in ("patch", "elim", "weights", "omega_sq"):
            if arrays[k].shape[0] != n:
                raise PointSetError(f"{path}: '{k}' has {arrays[k].shape[0]} rows, z has {n}")
        if not (np.isfinite(z).all() and np.isfinite(arrays["weights"]).all()):
            raise PointSetError(f"{path}: points or weights contain NaN or inf")
        return cls(
            jnp.asarray(z, dtype=jnp.complex128),
            jnp.asarray(arrays["patch"]),
            jnp.asarray(arrays["elim"]),
            jnp.asarray(arrays["weights"], dtype=jnp.float64),
            jnp.asarray(arrays["omega_sq"], dtype=jnp.float64),
            str(arrays["variety_name"]),
            str(arrays["variety_json"]),
        )
