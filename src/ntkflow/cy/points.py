"""Sampled points on a variety, with their integration weights (:class:`PointSet`).
w = V_FS · |Ω|² / det g_FS, |Ω|² = 1/|det ∂Q/∂z_elim|² (Shiffman-Zelditch; anchors.md).
Fields, normalisation and ``.npz`` keys: docs/derivations.md#cy-points."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

FORMAT = "ntkflow.pointset/1"
_KEYS = ("z", "patch", "elim", "weights", "omega_sq", "variety_name", "variety_json", "format")


class PointSetError(ValueError):
    """Raised for an unreadable, empty, truncated or foreign point file."""


class PointSet(eqx.Module):
    """Weighted points on a variety (conventions: docs/derivations.md#cy-points)."""

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
        return jax.tree.map(lambda a: a[idx], self)

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

    def check(self, variety, where: str = "points", tol: float = 1e-6) -> None:
        """Refuse (:class:`PointSetError`, one line) points that break the invariants the
        measures rely on (patch, elimination, weights, on X, |Ω|²), since a wrong patch or weight
        silently gives a wrong σ or volume. The list: docs/derivations.md#cy-points-check."""
        from ntkflow.memory import map_chunked

        from .kahler import omega_squared

        n = len(self)
        if self.z.shape[1] != variety.n_coords:
            raise PointSetError(
                f"{where}: points have {self.z.shape[1]} coordinates, the variety "
                f"{variety.name} has {variety.n_coords}"
            )
        z = np.asarray(self.z)
        patch = np.asarray(self.patch).reshape(n, -1)
        elim = np.asarray(self.elim).reshape(n, -1)
        weights, omega_sq = np.asarray(self.weights), np.asarray(self.omega_sq)

        def refuse(bad: np.ndarray, what: str) -> None:
            rows = np.flatnonzero(bad)
            if rows.size:
                raise PointSetError(
                    f"{where}: {what} at {rows.size} of {n} points (first at row {rows[0]}); "
                    "the file was altered or not written by `ntkflow cy sample`"
                )

        slices = variety.factor_slices
        if patch.shape[1] != len(slices) or elim.shape[1] != variety.n_equations:
            raise PointSetError(
                f"{where}: patch/elim have {patch.shape[1]}/{elim.shape[1]} columns, the variety "
                f"has {len(slices)} projective factors and {variety.n_equations} equations"
            )
        for f, sl in enumerate(slices):
            p = patch[:, f]
            refuse(
                (p < sl.start) | (p >= sl.stop), f"a patch index outside {sl.start}..{sl.stop - 1}"
            )
            zp = z[np.arange(n), p]
            refuse(np.abs(zp - 1) > tol, "the patch coordinate is not 1")
            refuse(
                np.abs(z[:, sl]).max(axis=1) > 1 + tol, "the patch coordinate is not the largest"
            )
        refuse(
            ((elim < 0) | (elim >= variety.n_coords)).any(axis=1),
            "an elimination index out of range",
        )
        refuse(
            (elim[:, :, None] == patch[:, None, :]).any(axis=(1, 2)),
            "an elimination index equal to a patch index",
        )
        if elim.shape[1] > 1:
            srt = np.sort(elim, axis=1)
            refuse((srt[:, 1:] == srt[:, :-1]).any(axis=1), "a repeated elimination index")
        refuse(~(np.isfinite(weights) & (weights > 0)), "a weight that is not positive and finite")
        refuse(~(np.isfinite(omega_sq) & (omega_sq > 0)), "|Ω|² not positive and finite")

        res, om = map_chunked(
            lambda zz, el: (jnp.abs(variety.equations(zz)), omega_squared(variety, zz, el)),
            jnp.asarray(z),
            jnp.asarray(elim),
        )
        scale = np.array([np.abs(np.asarray(q.coefficients)).sum() for q in variety.equations_list])
        refuse(
            (res > tol * scale[None, :]).any(axis=1),
            f"a point off {variety.name} (|Q(z)| above {tol:g} of its scale)",
        )
        refuse(np.abs(om / omega_sq - 1) > tol, "|Ω|² that does not match its elimination indices")

    def save(self, path: str | Path) -> Path:
        """Write the documented ``.npz`` (keys: docs/derivations.md#cy-points)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
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


SAMPLING_BYTES_PER_COORDINATE = 300
"""Peak memory of sampling per point and homogeneous coordinate: ``ntkflow cy sample`` peaks
at 395 MB for 20 000 and 663 MB for 200 000 points on the quintic (5 coordinates), i.e.
1.5 kB per point (measured with ``/usr/bin/time -v``, JAX 0.10 on CPU)."""


def sampling_bytes(variety, n_points: int) -> int:
    """Estimated peak bytes to sample and hold ``n_points`` points on ``variety`` (above the
    ~0.4 GB a JAX process needs anyway)."""
    return int(n_points) * SAMPLING_BYTES_PER_COORDINATE * variety.n_coords
