"""Sampled points on a variety, with their integration weights (:class:`PointSet`).
w = V_FS · |Ω|² / det g_FS, |Ω|² = 1/|det ∂Q/∂z_elim|² (Shiffman-Zelditch; anchors.md).
Fields, normalisation and ``.npz`` keys: docs/derivations.md#cy-points.

A point file is one ``.npz`` or a shard directory: ``manifest.json`` (:data:`SHARDS_FORMAT`,
the variety, the total point count and each shard's file and row count) beside
``shard-00000.npz``, ``shard-00001.npz``, … (each a valid point file; rows in shard order).
:class:`PointSource` reads either chunk by chunk (:func:`iter_point_chunks`) without holding
all points; :func:`write_shards` writes a directory atomically (a temporary directory renamed
into place), each process of a multi-process run writing its own shards."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from ntkflow import parallel

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
        """Write the documented ``.npz`` (keys: docs/derivations.md#cy-points) atomically: a
        temporary file in the same folder, fsynced, then renamed onto ``path``, so a reader
        never sees half a file."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    z=np.asarray(self.z),
                    patch=np.asarray(self.patch, dtype=np.int64),
                    elim=np.asarray(self.elim, dtype=np.int64),
                    weights=np.asarray(self.weights, dtype=np.float64),
                    omega_sq=np.asarray(self.omega_sq, dtype=np.float64),
                    variety_name=np.array(self.variety_name),
                    variety_json=np.array(self.variety_json),
                    format=np.array(FORMAT),
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> PointSet:
        """Read a file written by :meth:`save` (or every shard of a shard directory, in
        order), with clear errors for a missing, empty, truncated or foreign file."""
        path = Path(path)
        if path.is_dir():
            return next(PointSource.open(path).chunks(None))
        n, name, vjson = _npz_header(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in _ROW_KEYS}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise PointSetError(f"{path}: unreadable or truncated point file ({e})") from None
        return _from_arrays(arrays, name, vjson, str(path), jnp.asarray)


_ROW_KEYS = ("z", "patch", "elim", "weights", "omega_sq")


def _from_arrays(arrays: dict, name: str, vjson: str, where: str, to=np.asarray) -> PointSet:
    """A :class:`PointSet` of row arrays read from a file, refusing NaN or inf (``to``:
    ``jnp.asarray`` for device arrays, ``np.asarray`` for host arrays)."""
    if not (np.isfinite(arrays["z"]).all() and np.isfinite(arrays["weights"]).all()):
        raise PointSetError(f"{where}: points or weights contain NaN or inf")
    return PointSet(
        to(np.asarray(arrays["z"], dtype=np.complex128)),
        to(arrays["patch"]),
        to(arrays["elim"]),
        to(np.asarray(arrays["weights"], dtype=np.float64)),
        to(np.asarray(arrays["omega_sq"], dtype=np.float64)),
        name,
        vjson,
    )


def concatenate(parts: list[PointSet]) -> PointSet:
    """The rows of ``parts`` (point sets on one variety) one after another."""
    if not parts:
        raise PointSetError("concatenate: no point sets")
    first = parts[0]
    if len(parts) == 1:
        return first
    cat = lambda *xs: np.concatenate([np.asarray(x) for x in xs])
    return jax.tree.map(cat, *parts)


def _member_header(zf: zipfile.ZipFile, key: str) -> tuple[tuple, np.dtype, bool]:
    """(shape, dtype, fortran_order) of the array ``key`` of an open ``.npz``, from its
    ``.npy`` header alone."""
    with zf.open(key + ".npy") as f:
        version = np.lib.format.read_magic(f)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        return read(f)


def _npz_header(path: Path) -> tuple[int, str, str]:
    """(rows, variety name, variety JSON) of a point file, checking what :meth:`PointSet.load`
    checks short of reading the rows: it exists, is a non-empty ``.npz`` with every key, of
    this format, with at least one point and the same row count in every array."""
    if not path.exists():
        raise PointSetError(f"{path}: no such point file")
    if path.is_dir():
        raise PointSetError(f"{path}: a directory, not a point file")
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
            name, vjson = str(data["variety_name"]), str(data["variety_json"])
        with zipfile.ZipFile(path) as zf:
            shapes = {k: _member_header(zf, k)[0] for k in _ROW_KEYS}
    except PointSetError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise PointSetError(f"{path}: unreadable or truncated point file ({e})") from None
    z = shapes["z"]
    n = z[0] if len(z) == 2 else -1
    if n <= 0:
        raise PointSetError(f"{path}: contains no points")
    for k in ("patch", "elim", "weights", "omega_sq"):
        if not shapes[k] or shapes[k][0] != n:
            rows = shapes[k][0] if shapes[k] else 0
            raise PointSetError(f"{path}: '{k}' has {rows} rows, z has {n}")
    return int(n), name, vjson


class _NpzRows:
    """Sequential reads of the row arrays of a point file, ``read(k)`` giving the next k rows
    of each, straight from the ``.npz`` members: only the rows asked for are in memory
    (C-ordered members; others are read whole once)."""

    def __init__(self, path: Path):
        self.path = path
        self._stack = contextlib.ExitStack()
        self._whole = None
        self._pos = 0
        self._streams = {}
        try:
            zf = self._stack.enter_context(zipfile.ZipFile(path))
            for k in _ROW_KEYS:
                f = self._stack.enter_context(zf.open(k + ".npy"))
                version = np.lib.format.read_magic(f)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, dtype, fortran = read(f)
                if fortran or dtype.hasobject:
                    with np.load(path, allow_pickle=False) as data:
                        self._whole = {key: data[key] for key in _ROW_KEYS}
                    break
                self._streams[k] = (f, shape, dtype)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
            self.close()
            raise PointSetError(f"{path}: unreadable or truncated point file ({e})") from None

    def read(self, k: int) -> dict:
        a = self._pos
        self._pos += k
        if self._whole is not None:
            return {key: v[a : a + k] for key, v in self._whole.items()}
        out = {}
        try:
            for key, (f, shape, dtype) in self._streams.items():
                per_row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
                buf = f.read(k * per_row)
                if len(buf) != k * per_row:
                    raise EOFError(f"'{key}' ends after {a + len(buf) // per_row} rows")
                out[key] = np.frombuffer(buf, dtype=dtype).reshape(k, *shape[1:])
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise PointSetError(f"{self.path}: unreadable or truncated point file ({e})") from None
        return out

    def close(self) -> None:
        self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


SHARDS_FORMAT = "ntkflow.pointshards/1"
MANIFEST = "manifest.json"


def shard_name(i: int) -> str:
    """The file name of shard ``i``."""
    return f"shard-{i:05d}.npz"


def is_shard_directory(path: str | Path) -> bool:
    """True for a directory holding a ``manifest.json`` (a shard directory, or a broken one)."""
    path = Path(path)
    return path.is_dir() and (path / MANIFEST).is_file()


class PointSource:
    """A point file or shard directory opened for streaming: its files and row counts checked
    up front (every shard readable, of this format, on the manifest's variety, with the
    manifest's row count), the rows read later chunk by chunk (:meth:`chunks`)."""

    def __init__(self, path: Path, files: list[tuple[Path, int]], name: str, vjson: str):
        self.path = path
        self.files = files
        self.variety_name = name
        self.variety_json = vjson

    def __len__(self) -> int:
        return sum(rows for _, rows in self.files)

    @property
    def sharded(self) -> bool:
        return self.path.is_dir()

    def variety(self, check: bool = False):
        """Rebuild the variety the points were sampled on."""
        from .variety import variety_from_dict

        if not self.variety_json:
            raise PointSetError(f"{self.path}: point set carries no variety description")
        return variety_from_dict(json.loads(self.variety_json), check=check)

    @classmethod
    def open(cls, path: str | Path) -> PointSource:
        """Open ``path`` (a ``.npz`` point file or a shard directory), with one-line errors
        (:class:`PointSetError`) for a missing, empty, truncated or foreign file, a missing
        or malformed manifest, and a manifest that disagrees with its shards."""
        path = Path(path)
        if not path.is_dir():
            n, name, vjson = _npz_header(path)
            return cls(path, [(path, n)], name, vjson)
        manifest = _read_manifest(path)
        files = []
        for i, entry in enumerate(manifest["shards"]):
            f = path / entry["file"]
            n, name, vjson = _npz_header(f)
            if n != entry["rows"]:
                raise PointSetError(
                    f"{f}: has {n} points, the manifest says {entry['rows']} (shard {i}); the "
                    "directory was altered or not written by `ntkflow cy sample`"
                )
            if vjson != manifest["variety_json"]:
                raise PointSetError(
                    f"{f}: points on {name!r}, the manifest says {manifest['variety_name']!r}; "
                    "the shard belongs to another point set"
                )
            files.append((f, n))
        return cls(path, files, manifest["variety_name"], manifest["variety_json"])

    def chunks(self, chunk: int | None, stop: int | None = None) -> Iterator[PointSet]:
        """The points (the first ``stop``) as host point sets of at most ``chunk`` rows
        (``None``: all in one), read file after file (a chunk may span shards). Each piece
        read is refused (:class:`PointSetError`) if its points or weights are NaN or inf."""
        for _, ps in self.labelled_chunks(chunk, stop):
            yield ps

    def labelled_chunks(
        self, chunk: int | None, stop: int | None = None, start: int = 0
    ) -> Iterator[tuple[str, PointSet]]:
        """:meth:`chunks` of the rows ``start..stop`` with, for each, a label naming its rows
        and files (for errors); shards wholly before ``start`` are not opened."""
        total = len(self) if stop is None else min(int(stop), len(self))
        start = min(max(int(start), 0), total)
        cap = max(total - start, 1) if chunk is None else max(int(chunk), 1)
        pieces, names, have, first = [], [], 0, start

        def flush():
            arrays = {k: np.concatenate([p[k] for p in pieces]) for k in _ROW_KEYS}
            if not self.sharded:
                where = str(self.path) if have == len(self) else f"{self.path} (rows {first}..)"
                where = where.replace("..)", f"..{first + have - 1})")
            else:
                span = names[0] if names[0] == names[-1] else f"{names[0]}..{names[-1]}"
                where = f"{self.path} (points {first}..{first + have - 1}, {span})"
            return where, _from_arrays(arrays, self.variety_name, self.variety_json, where)

        left, skip = total - start, start
        for f, rows in self.files:
            if left <= 0:
                break
            if skip >= rows:  # a shard wholly before start
                skip -= rows
                continue
            take, pos = min(rows - skip, left), 0
            with _NpzRows(f) as reader:
                while skip:  # rows before start: read past them, a bounded piece at a time
                    skip -= len(reader.read(min(skip, 1 << 18))["weights"])
                while pos < take:
                    k = min(cap - have, take - pos)
                    piece = reader.read(k)
                    if not (np.isfinite(piece["z"]).all() and np.isfinite(piece["weights"]).all()):
                        raise PointSetError(
                            f"{f}: points or weights contain NaN or inf (rows {pos}..{pos + k - 1})"
                        )
                    pieces.append(piece)
                    names.append(f.name)
                    have += k
                    pos += k
                    if have == cap:
                        yield flush()
                        first += have
                        pieces, names, have = [], [], 0
            left -= take
        if have:
            yield flush()

    def head(self, n: int) -> PointSet:
        """The first ``n`` points in host memory."""
        return next(self.chunks(None, stop=n))


def iter_point_chunks(path: str | Path, chunk: int | None) -> Iterator[PointSet]:
    """The points of a point file or shard directory in chunks of at most ``chunk`` rows
    (:meth:`PointSource.chunks`), after the up-front checks of :meth:`PointSource.open`."""
    return PointSource.open(path).chunks(chunk)


def _read_manifest(path: Path) -> dict:
    """The checked manifest of the shard directory ``path``."""
    mf = path / MANIFEST
    if not mf.is_file():
        raise PointSetError(
            f"{path}: a directory without {MANIFEST}, not a point-shard directory written by "
            "`ntkflow cy sample`"
        )
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PointSetError(f"{mf}: unreadable manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise PointSetError(f"{mf}: unknown point-shard format {got!r}, need {SHARDS_FORMAT!r}")
    shards = manifest.get("shards")
    ok = (
        isinstance(manifest.get("points"), int)
        and isinstance(manifest.get("variety_name"), str)
        and isinstance(manifest.get("variety_json"), str)
        and isinstance(shards, list)
        and len(shards) > 0
        and all(
            isinstance(e, dict)
            and isinstance(e.get("file"), str)
            and "/" not in e["file"]
            and e["file"] not in ("", ".", "..")
            and isinstance(e.get("rows"), int)
            and e["rows"] > 0
            for e in shards
        )
    )
    if not ok:
        raise PointSetError(
            f"{mf}: malformed manifest (need points, variety_name, variety_json and a non-empty "
            "list of shards, each a file name in the directory with a positive row count)"
        )
    total = sum(e["rows"] for e in shards)
    if total != manifest["points"]:
        raise PointSetError(
            f"{mf}: the shards hold {total} points, the manifest says {manifest['points']}"
        )
    return manifest


def check_output(out: str | Path, sharded: bool) -> None:
    """Refuse (:class:`PointSetError`) to overwrite what is not a point file of the same kind:
    a shard directory replaces only a shard directory, a file only a file."""
    out = Path(out)
    if not out.exists():
        return
    if sharded and not is_shard_directory(out):
        raise PointSetError(
            f"{out}: exists and is not a point-shard directory; choose another --out"
        )
    if not sharded and out.is_dir():
        raise PointSetError(f"{out}: is a directory; choose another --out")


def write_shards(
    out: str | Path,
    counts: list[int],
    rows: Callable[[int, int, Callable[[int], None]], PointSet],
    meta: dict,
    progress: Callable[[str, int], contextlib.AbstractContextManager] | None = None,
) -> Path:
    """Write the shard directory ``out`` holding ``sum(counts)`` points, shard i holding
    ``counts[i]`` rows, ``rows(start, stop, advance)`` (the point set of rows start..stop-1,
    calling ``advance(k)`` as it goes). Atomic: shards go into a temporary directory beside
    ``out`` that replaces it once the manifest is written (a previous shard directory there is
    removed after). With several processes, process p writes shards p, p + P, …, process 0 the
    manifest and the rename (the folder must be shared); ``meta`` (seed, …) joins the
    manifest. ``progress(label, total)`` is a context manager yielding ``advance``."""
    out = Path(out)
    check_output(out, sharded=True)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    pid, nproc = jax.process_index(), jax.process_count()
    # named by process 0's pid, known to every process
    tmp = out.parent / f".{out.name}.tmp-{int(parallel.agree(os.getpid()))}"
    progress = progress or (lambda label, total: contextlib.nullcontext(lambda *a, **k: None))
    try:
        if pid == 0:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
        parallel.sync("ntkflow-shards-start")
        name = vjson = None
        for i in range(pid, len(counts), nproc):
            with progress(f"shard {i + 1}/{len(counts)}", int(counts[i])) as advance:
                ps = rows(int(starts[i]), int(starts[i + 1]), lambda k: advance(k))
                if len(ps) != counts[i]:
                    raise PointSetError(f"shard {i}: got {len(ps)} rows, need {counts[i]}")
                ps.save(tmp / shard_name(i))
            name, vjson = ps.variety_name, ps.variety_json
        parallel.sync("ntkflow-shards-written")
        if pid == 0:
            if vjson is None:  # process 0 wrote no shard (more processes than shards)
                _, name, vjson = _npz_header(tmp / shard_name(0))
            manifest = {
                "format": SHARDS_FORMAT,
                "point_format": FORMAT,
                "variety_name": name,
                "points": int(starts[-1]),
                **meta,
                "shards": [{"file": shard_name(i), "rows": int(c)} for i, c in enumerate(counts)],
                "variety_json": vjson,
            }
            from ntkflow.io.atomic import write_json

            write_json(tmp / MANIFEST, manifest, indent=1)
            PointSource.open(tmp)  # every shard present and as the manifest says
            _replace_directory(tmp, out)
        parallel.sync("ntkflow-shards-done")
    except BaseException:
        if nproc == 1:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _replace_directory(tmp: Path, out: Path) -> None:
    """Rename the finished directory ``tmp`` onto ``out``; a previous ``out`` is moved aside
    first and removed after, so ``out`` is at every moment absent, the old or the new."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    with contextlib.suppress(OSError):
        fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def row_bytes(variety) -> int:
    """Bytes of one stored point: z (complex128 per coordinate), patch and elim (int64 per
    factor and equation), weight and |Ω|² (float64)."""
    return 16 * variety.n_coords + 8 * (variety.n_factors + variety.n_equations) + 16


SAMPLING_BYTES_PER_COORDINATE = 300
"""Peak memory of sampling per point and homogeneous coordinate: ``ntkflow cy sample`` peaks
at 395 MB for 20 000 and 663 MB for 200 000 points on the quintic (5 coordinates), i.e.
1.5 kB per point (measured with ``/usr/bin/time -v``, JAX 0.10 on CPU)."""


def sampling_bytes(variety, n_points: int) -> int:
    """Estimated peak bytes to sample and hold ``n_points`` points on ``variety`` (above the
    ~0.4 GB a JAX process needs anyway)."""
    return int(n_points) * SAMPLING_BYTES_PER_COORDINATE * variety.n_coords
