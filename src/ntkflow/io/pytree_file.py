"""One file format for every saved pytree: checkpoints and final models.
Magic line, JSON header, equinox payload; all checked, else :class:`CheckpointError`.
Layout: docs/derivations.md#io-pytree_file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .atomic import atomic_write_bytes, is_temporary, read_nonempty

MAGIC = b"NTKFLOW-PYTREE\n"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint or saved model is missing, empty, truncated, corrupt, foreign or does
    not fit the skeleton rebuilt from the run's configuration."""


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jax.dtypes.issubdtype(
        x.dtype, jax.dtypes.prng_key
    )


def _leaf_spec(x: Any) -> str | None:
    """A stable description of one leaf (alike for an array and its ``ShapeDtypeStruct``);
    ``None`` for leaves that are not saved."""
    if _is_key(x):
        return f"{x.dtype}{list(x.shape)}"
    if isinstance(x, jax.Array | jax.ShapeDtypeStruct | np.ndarray | np.generic):
        return f"{np.dtype(x.dtype).name}{list(np.shape(x))}"
    if isinstance(x, bool | int | float | complex):
        return type(x).__name__
    return None


def tree_fingerprint(tree: Any) -> str:
    """SHA-256 of the key path, shape and dtype of each saved leaf, in order (not functions or
    static fields, whose reprs hold memory addresses): the same in every process."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    specs = [(jax.tree_util.keystr(path), _leaf_spec(x)) for path, x in leaves]
    items = [[key, spec] for key, spec in specs if spec is not None]
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def _serialise_leaf(f, x: Any) -> None:
    if _is_key(x):
        jnp.save(f, jax.random.key_data(x))
    else:
        eqx.default_serialise_filter_spec(f, x)


def _deserialise_leaf(f, x: Any) -> Any:
    if _is_key(x):
        return jax.random.wrap_key_data(jnp.load(f), impl=jax.random.key_impl(x))
    return eqx.default_deserialise_filter_spec(f, x)


def _concrete_keys(like: Any) -> Any:
    """Abstract PRNG keys of a skeleton (``ShapeDtypeStruct``) as placeholder key arrays, so
    equinox sees the same leaf type in the skeleton and in the file."""

    def fix(x: Any) -> Any:
        if isinstance(x, jax.ShapeDtypeStruct) and _is_key(x):
            impl = x.dtype._impl
            data = jnp.zeros(x.shape + tuple(impl.key_shape), dtype=jnp.uint32)
            return jax.random.wrap_key_data(data, impl=impl)
        return x

    return jax.tree_util.tree_map(fix, like)


def write(path: str | os.PathLike, tree: Any, header: dict[str, Any]) -> Path:
    """Atomically write ``tree`` with ``header`` (extra JSON fields) to ``path``."""
    from ntkflow.parallel import to_host

    tree = jax.tree.map(to_host, tree)  # arrays of a multi-process run: this process's copy
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree, filter_spec=_serialise_leaf)
    payload = buf.getvalue()
    full = {
        "format_version": FORMAT_VERSION,
        **header,
        "fingerprint": tree_fingerprint(tree),
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    data = MAGIC + json.dumps(full, sort_keys=True).encode() + b"\n" + payload
    return atomic_write_bytes(path, data)


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    data = read_nonempty(path, CheckpointError)
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise CheckpointError(f"{path}: file is truncated (only {len(data)} bytes)")
        raise CheckpointError(
            f"{path}: not an ntkflow pytree file (it does not start with {MAGIC!r}); "
            "it may come from another program"
        )
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise CheckpointError(f"{path}: file is truncated inside its header")
    try:
        header = json.loads(data[len(MAGIC) : end])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt header ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt header (not a JSON object)")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version!r}, this ntkflow reads version {FORMAT_VERSION}"
        )
    payload = data[end + 1 :]
    expected = header.get("payload_bytes")
    if len(payload) != expected:
        what = "truncated" if isinstance(expected, int) and len(payload) < expected else "corrupt"
        raise CheckpointError(
            f"{path}: file is {what}: payload has {len(payload)} bytes, header says {expected}"
        )
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise CheckpointError(f"{path}: corrupt payload (SHA-256 does not match its header)")
    return header, payload


def read(
    path: str | os.PathLike, like: Any, kind: str, job: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """Read a pytree saved by :func:`write` into the skeleton ``like``; return (tree, header),
    after checking the file, ``kind``, ``job`` (when given) and the fingerprint of ``like``."""
    path = Path(path)
    header, payload = _split(path)
    if header.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {header.get('kind')!r}, expected a {kind!r}")
    if job is not None and header.get("job") != job:
        raise CheckpointError(
            f"{path}: written by job {header.get('job')!r}, this run's job is {job!r}"
        )
    if header.get("fingerprint") != tree_fingerprint(like):
        raise CheckpointError(
            f"{path}: its tree structure (parameter names, shapes, dtypes) does not match the "
            "one rebuilt from the configuration; was it written by a different model or config?"
        )
    try:
        tree = eqx.tree_deserialise_leaves(
            io.BytesIO(payload), _concrete_keys(like), filter_spec=_deserialise_leaf
        )
    except Exception as e:  # checksum passed, so this is a format mismatch, not corruption
        raise CheckpointError(
            f"{path}: cannot deserialise payload ({type(e).__name__}: {e})"
        ) from e
    return tree, header


_NAME = re.compile(r"^step_(\d+)\.ckpt$")


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """``directory/step_<step, 9 digits>.ckpt``."""
    return Path(directory) / f"step_{step:09d}.ckpt"


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the checkpoints in ``directory``, oldest first (temp files skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_file() and not is_temporary(p):
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(path: str | os.PathLike, state: Any, *, step: int, job: str) -> Path:
    """Atomically write ``state`` (any pytree) as the checkpoint of ``step`` of job ``job``."""
    return write(path, state, {"kind": "checkpoint", "job": job, "step": int(step)})


def load_checkpoint(
    path: str | os.PathLike, like: Any, *, job: str | None = None
) -> tuple[Any, int]:
    """Restore a checkpoint into the skeleton ``like``; return ``(state, step)``."""
    state, header = read(path, like, kind="checkpoint", job=job)
    step = header.get("step")
    if not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{path}: header has no valid step ({step!r})")
    return state, step


def save_model(
    path: str | os.PathLike, model: Any, hyperparameters: dict[str, Any], job: str | None = None
) -> Path:
    """Atomically write ``model`` and its (JSON-serialisable) ``hyperparameters``."""
    try:
        hp = json.loads(json.dumps(hyperparameters))
    except (TypeError, ValueError) as e:
        raise TypeError(f"save_model: hyperparameters must be JSON-serialisable ({e})") from None
    return write(path, model, {"kind": "model", "job": job, "hyperparameters": hp})


def load_model(path: str | os.PathLike, build: Callable[[dict[str, Any]], Any]) -> Any:
    """Rebuild the skeleton with ``build(hyperparameters)`` and load the saved arrays into it."""
    header = _split(Path(path))[0]
    if header.get("kind") != "model":
        raise CheckpointError(f"{path}: holds a {header.get('kind')!r}, expected a 'model'")
    hp = header.get("hyperparameters")
    if not isinstance(hp, dict):
        raise CheckpointError(f"{path}: model header has no hyperparameters")
    try:
        like = build(hp)
    except Exception as e:
        raise CheckpointError(
            f"{path}: cannot rebuild the model from its hyperparameters {hp} "
            f"({type(e).__name__}: {e})"
        ) from e
    return read(path, like, kind="model")[0]
