"""Point files for ``ntkflow cy eval`` and friends, told apart by their arrays:

- a plain points file::

      points     (N, k)  real or complex; for projective varieties complex homogeneous
                         coordinates (N, n+1)
      weights    (N,)    optional integration weights
      omega_sq   (N,)    optional |Omega|^2

- a sampled point set (``ntkflow.cy.points.PointSet.save``, ``format`` =
  ``"ntkflow.pointset/1"``): ``z`` (N, n+1) complex with ``weights`` and ``omega_sq``;
- cymetric's ``dataset.npz`` (see :mod:`ntkflow.io.cymetric`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Literal

import numpy as np

from .atomic import atomic_write_bytes
from .cymetric import PointsError, check_finite, load_npz, read_cymetric

Split = Literal["all", "train", "val"]


def read_points(path: str | os.PathLike, split: Split = "all") -> dict[str, np.ndarray]:
    """Read points (and weights / omega_sq when present) from either layout.

    For a cymetric dataset, ``split`` picks the training rows, the validation rows or both
    (training first). Returns a dict with ``points`` and the optional arrays.
    """
    path = Path(path)
    arrays = load_npz(path)
    if "z" in arrays and str(arrays.get("format", "")).startswith("ntkflow.pointset/"):
        arrays = {
            "points": arrays["z"],
            "weights": arrays["weights"],
            "omega_sq": arrays["omega_sq"],
        }
    if "points" in arrays:
        pts = np.asarray(arrays["points"])
        if pts.ndim != 2:
            raise PointsError(f"{path}: points must have shape (N, k), got {pts.shape}")
        check_finite(str(path), "points", pts)
        out = {"points": pts}
        for name in ("weights", "omega_sq"):
            if name in arrays:
                a = np.asarray(arrays[name])
                if a.shape != (pts.shape[0],):
                    raise PointsError(
                        f"{path}: {name} must have shape ({pts.shape[0]},), got {a.shape}"
                    )
                out[name] = a
        return out
    if "X_train" in arrays or "X_val" in arrays:
        train, val = read_cymetric(path)
        parts = {"train": [train], "val": [val], "all": [train, val]}[split]
        return {
            "points": np.concatenate([s.points for s in parts]),
            "weights": np.concatenate([s.weights for s in parts]),
            "omega_sq": np.concatenate([s.omega_sq for s in parts]),
        }
    raise PointsError(
        f"{path}: no point array: expected 'points', 'z' (an ntkflow point set) or "
        f"'X_train'/'X_val' (cymetric dataset), found {sorted(arrays) or 'no arrays'}"
    )


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write arrays to an uncompressed ``.npz`` atomically."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())
