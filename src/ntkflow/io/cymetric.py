"""Point files: ntkflow's ``points`` npz, ntkflow point sets and cymetric's ``dataset.npz``
(Larfors, Lukas, Ruehle, Schneider; arXiv 2111.01436); a bad file is a :class:`PointsError`.
Layouts: docs/derivations.md#io-cymetric."""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .atomic import atomic_write_bytes, read_nonempty


class PointsError(ValueError):
    """A point file is missing, empty, truncated, foreign or has malformed arrays."""


@dataclasses.dataclass(frozen=True)
class PointSplit:
    """One split of a point set: complex points with their integration data."""

    points: np.ndarray  # complex (N, n+1), homogeneous coordinates
    weights: np.ndarray  # real (N,), Monte Carlo integration weights
    omega_sq: np.ndarray  # real (N,), |Omega(z)|^2
    pullbacks: np.ndarray | None = None  # complex (N, d, n+1)

    def __len__(self) -> int:
        return self.points.shape[0]


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (no pickles), or a :class:`PointsError` saying why not."""
    path = Path(path)
    data = read_nonempty(path, PointsError)
    if not data.startswith(b"PK"):
        raise PointsError(f"{path}: not an .npz file (not a zip archive)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError) as e:
        raise PointsError(f"{path}: truncated or corrupt .npz ({e})") from None
    except ValueError as e:
        raise PointsError(f"{path}: unreadable array ({e})") from None
    except Exception as e:
        raise PointsError(f"{path}: cannot read .npz ({type(e).__name__}: {e})") from None


def check_finite(where: str, name: str, a: np.ndarray) -> None:
    """A :class:`PointsError` naming the first row of ``a`` with a NaN or inf."""
    if not np.all(np.isfinite(a)):
        i = int(np.argmax(~np.isfinite(a).reshape(a.shape[0], -1).all(axis=1)))
        raise PointsError(f"{where}: {name} has NaN or inf (first at row {i})")


def check_split(split: PointSplit, where: str) -> PointSplit:
    """Check shapes, dtypes, finiteness and positivity of a split; return it."""
    p = np.asarray(split.points)
    if p.ndim != 2 or p.shape[1] < 2:
        raise PointsError(f"{where}: points must have shape (N, n+1), got {p.shape}")
    n = p.shape[0]
    check_finite(where, "points", p)
    for name in ("weights", "omega_sq"):
        a = np.asarray(getattr(split, name))
        if a.shape != (n,):
            raise PointsError(f"{where}: {name} must have shape ({n},), got {a.shape}")
        if np.iscomplexobj(a):
            raise PointsError(f"{where}: {name} must be real")
        check_finite(where, name, a)
        if n and a.min() <= 0:
            raise PointsError(f"{where}: {name} must be positive (row {int(np.argmin(a))})")
    if split.pullbacks is not None:
        pb = np.asarray(split.pullbacks)
        if pb.ndim != 3 or pb.shape[0] != n or pb.shape[2] != p.shape[1]:
            raise PointsError(
                f"{where}: pullbacks must have shape ({n}, d, {p.shape[1]}), got {pb.shape}"
            )
    return split


def real_to_complex(x: np.ndarray, where: str = "X") -> np.ndarray:
    """[Re z | Im z] of shape (N, 2(n+1)) -> complex z of shape (N, n+1)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] % 2:
        raise PointsError(f"{where}: expected shape (N, 2(n+1)) = [Re z | Im z], got {x.shape}")
    if np.iscomplexobj(x):
        raise PointsError(f"{where}: expected real [Re z | Im z] columns, got complex values")
    h = x.shape[1] // 2
    return x[:, :h] + 1j * x[:, h:]


def complex_to_real(z: np.ndarray) -> np.ndarray:
    """complex z of shape (N, n+1) -> [Re z | Im z] of shape (N, 2(n+1))."""
    z = np.asarray(z)
    return np.concatenate([z.real, z.imag], axis=-1)


def _split_from(path: Path, arrays: dict[str, np.ndarray], name: str) -> PointSplit:
    x_key, y_key, pb_key = f"X_{name}", f"y_{name}", f"{name}_pullbacks"
    for key in (x_key, y_key):
        if key not in arrays:
            raise PointsError(
                f"{path}: not a cymetric dataset: no array {key!r} (it has {sorted(arrays)})"
            )
    points = real_to_complex(arrays[x_key], f"{path}: {x_key}")
    y = np.asarray(arrays[y_key])
    if y.ndim != 2 or y.shape[1] < 2 or y.shape[0] != points.shape[0]:
        raise PointsError(
            f"{path}: {y_key} must have shape ({points.shape[0]}, 2) = [weight, |Omega|^2], "
            f"got {y.shape}"
        )
    pb = arrays.get(pb_key)
    split = PointSplit(points, np.asarray(y[:, 0], float), np.asarray(y[:, 1], float), pb)
    return check_split(split, f"{path} ({name})")


def read_cymetric(path: str | os.PathLike) -> tuple[PointSplit, PointSplit]:
    """Read a cymetric ``dataset.npz``; return ``(train, val)``."""
    path = Path(path)
    arrays = load_npz(path)
    train, val = _split_from(path, arrays, "train"), _split_from(path, arrays, "val")
    if train.points.shape[1] != val.points.shape[1]:
        raise PointsError(f"{path}: train and val points have different dimensions")
    return train, val


def cymetric_arrays(train: PointSplit, val: PointSplit) -> dict[str, Any]:
    """The arrays of cymetric's layout for a (train, val) pair."""
    out: dict[str, Any] = {}
    for name, s in (("train", train), ("val", val)):
        check_split(s, f"{name} split")
        out[f"X_{name}"] = complex_to_real(s.points)
        out[f"y_{name}"] = np.stack([s.weights, s.omega_sq], axis=1)
        if s.pullbacks is not None:
            out[f"{name}_pullbacks"] = np.asarray(s.pullbacks)
    return out


def write_cymetric(path: str | os.PathLike, train: PointSplit, val: PointSplit) -> Path:
    """Write ``(train, val)`` in cymetric's ``dataset.npz`` layout (compressed, atomically)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **cymetric_arrays(train, val))
    return atomic_write_bytes(path, buf.getvalue())


def split_points(
    points: np.ndarray,
    weights: np.ndarray,
    omega_sq: np.ndarray,
    pullbacks: np.ndarray | None = None,
    val_fraction: float = 0.1,
) -> tuple[PointSplit, PointSplit]:
    """Split arrays into (train, val) the way cymetric does: the first ``int((1 - f) N)`` rows
    train, the rest validate."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    t = int((1 - val_fraction) * len(points))
    pb = (None, None) if pullbacks is None else (pullbacks[:t], pullbacks[t:])
    return (
        PointSplit(points[:t], weights[:t], omega_sq[:t], pb[0]),
        PointSplit(points[t:], weights[t:], omega_sq[t:], pb[1]),
    )


Split = Literal["all", "train", "val"]


def read_points(path: str | os.PathLike, split: Split = "all") -> dict[str, np.ndarray]:
    """``points`` (and ``weights`` / ``omega_sq`` when present) from any layout; ``split`` picks
    a cymetric dataset's training rows, validation rows or both (training first)."""
    path = Path(path)
    arrays = load_npz(path)
    if "z" in arrays and str(arrays.get("format", "")).startswith("ntkflow.pointset/"):
        arrays = {"points": arrays["z"], **{k: arrays[k] for k in ("weights", "omega_sq")}}
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
        keys = ("points", "weights", "omega_sq")
        return {k: np.concatenate([getattr(s, k) for s in parts]) for k in keys}
    raise PointsError(
        f"{path}: no point array: expected 'points', 'z' (an ntkflow point set) or "
        f"'X_train'/'X_val' (cymetric dataset), found {sorted(arrays) or 'no arrays'}"
    )


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write arrays to an uncompressed ``.npz`` atomically."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())
