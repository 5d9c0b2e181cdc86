"""Data parallelism over points, on JAX's own runtime (docs/scaling.md).

Every computation of the project is a sum or a mean over points, Σ_p f(θ, x_p). The points
are sharded along the one axis ``"points"`` of a device mesh, parameters θ are replicated;
each device evaluates f on its own rows (:func:`map_blocks`, a ``shard_map`` of a chunked
``lax.map``) and the point-sums are all-reduced (:func:`point_sum`, or XLA's own reductions
of a sharded array under ``jit``). The same code runs on one device (a mesh of one), on the
devices of one host and, after :func:`initialize`, on the devices of many hosts
(``jax.distributed``). Rows added to make the point count a multiple of the device count
copy the last point and carry weight 0, so every weighted sum is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "points"

ENV_COORDINATOR = "NTKFLOW_COORDINATOR"
ENV_NUM_PROCESSES = "NTKFLOW_NUM_PROCESSES"
ENV_PROCESS_ID = "NTKFLOW_PROCESS_ID"


class ParallelError(RuntimeError):
    """A device count or cluster setting that cannot be honoured."""


def _cluster_settings(environ) -> dict | None:
    """The ``jax.distributed.initialize`` arguments from the environment: the plain contract
    (``NTKFLOW_COORDINATOR=host:port``, ``NTKFLOW_NUM_PROCESSES``, ``NTKFLOW_PROCESS_ID``), or
    ``{}`` under a SLURM job step of more than one task (JAX reads SLURM's variables itself);
    ``None`` for a single process."""
    keys = (ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID)
    given = {k: environ.get(k, "").strip() for k in keys}
    if any(given.values()):
        missing = [k for k, v in given.items() if not v]
        if missing:
            raise ParallelError(
                f"a multi-process run needs {', '.join(keys)}; missing {', '.join(missing)}"
            )
        try:
            n, pid = int(given[ENV_NUM_PROCESSES]), int(given[ENV_PROCESS_ID])
        except ValueError:
            raise ParallelError(
                f"{ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} must be integers, got "
                f"{given[ENV_NUM_PROCESSES]!r} and {given[ENV_PROCESS_ID]!r}"
            ) from None
        if n < 1 or not 0 <= pid < n:
            raise ParallelError(f"{ENV_PROCESS_ID}={pid} is not in 0..{n - 1}")
        if ":" not in given[ENV_COORDINATOR]:
            raise ParallelError(
                f"{ENV_COORDINATOR}={given[ENV_COORDINATOR]!r} must be host:port "
                "(the address of process 0)"
            )
        return {
            "coordinator_address": given[ENV_COORDINATOR],
            "num_processes": n,
            "process_id": pid,
        }
    if environ.get("SLURM_JOB_ID") and int(environ.get("SLURM_NTASKS", "1") or 1) > 1:
        return {}
    return None


_INITIALIZED = False


def initialize(environ=None, heartbeat_timeout_s: int = 20) -> bool:
    """Join a multi-process run when the environment asks for one (:func:`_cluster_settings`);
    returns True when this is one process of several. Idempotent. On CPU the collectives go
    through gloo. A process that stops answering for ``heartbeat_timeout_s`` seconds makes
    the others fail (rather than wait for ever)."""
    global _INITIALIZED
    settings = _cluster_settings(os.environ if environ is None else environ)
    if settings is None:
        return False
    if not _INITIALIZED:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            jax.distributed.initialize(
                **settings,
                heartbeat_timeout_seconds=heartbeat_timeout_s,
                initialization_timeout=120,
            )
        except (RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ParallelError(f"could not join the multi-process run: {first}") from None
        _INITIALIZED = True
        _keep_stdout_for_output()
        _start_watchdog()
    return jax.process_count() > 1


def _keep_stdout_for_output() -> None:
    """The collectives library prints connection notes on the C-level stdout; send those to
    stderr and keep Python's ``sys.stdout`` (a command's ``--json`` object) on the real one."""
    import sys

    sys.stdout.flush()
    real = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(real, "w", buffering=1, encoding="utf-8")


_LOST_HOOKS: list[Callable[[str], str | None]] = []


def on_lost_process(hook: Callable[[str], str | None]) -> Callable[[], None]:
    """Call ``hook(why)`` when another process of the run is lost, before this one ends with
    exit code 1; the hook may return more words for the error line (what is kept, how to
    continue). Returns the function that removes the hook."""
    _LOST_HOOKS.append(hook)
    return lambda: _LOST_HOOKS.remove(hook) if hook in _LOST_HOOKS else None


def _start_watchdog(period_s: float = 0.5) -> None:
    """Watch the other processes through the coordination service of ``jax.distributed``
    (its list of live processes). One that dies (killed, crashed, out of memory) would leave
    this one blocked in a collective until the runtime aborts it with a stack trace; instead
    the hooks run (the run records where it stopped) and this process ends with one line."""
    import atexit
    import sys
    import threading

    from jax._src import distributed

    client, n, me = distributed.global_state.client, jax.process_count(), jax.process_index()
    done = threading.Event()

    def watch():
        while not done.wait(period_s):
            try:
                live = set(client.get_live_nodes(list(range(n))))
            except Exception:  # the coordinator itself is gone
                live = {me}
            lost = sorted(set(range(n)) - live)
            if lost and not done.is_set():
                gone = f"process {', '.join(map(str, lost))} of {n} is gone"
                why = f"another process of the multi-process run stopped or lost contact ({gone})"
                extra = [m for hook in list(_LOST_HOOKS) if (m := _safe(hook, why))]
                sys.stderr.write(f"error: {'; '.join([why, *extra])}\n")
                sys.stderr.flush()
                os._exit(1)

    thread = threading.Thread(target=watch, name="ntkflow-watchdog", daemon=True)
    thread.start()

    def stop():
        # A normal exit: stop watching before the shutdown barrier, and wait for the thread.
        # A daemon thread still inside the coordination client when the interpreter
        # finalises is unwound through C++ frames that swallow the unwind: an abort.
        done.set()
        thread.join(timeout=10)

    atexit.register(stop)
    global _STOP_WATCHDOG
    _STOP_WATCHDOG = stop


_STOP_WATCHDOG: Callable[[], None] = lambda: None


def _safe(hook, why: str) -> str | None:
    try:
        return hook(why)
    except Exception:  # a hook must not keep the process alive
        return None


def is_writer() -> bool:
    """True in the process that writes files (process 0; the only one of a single run)."""
    return jax.process_index() == 0


def point_mesh(devices: int | None = None) -> Mesh:
    """The one-axis mesh of the first ``devices`` local devices of every process (all local
    devices by default), ordered by process."""
    local = jax.local_devices()
    n = len(local) if devices in (None, 0) else int(devices)
    if n < 1:
        raise ParallelError(f"--devices must be at least 1, got {n}")
    if n > len(local):
        hint = (
            f"; on CPU start with XLA_FLAGS=--xla_force_host_platform_device_count={n}"
            if local[0].platform == "cpu"
            else ""
        )
        raise ParallelError(
            f"--devices {n}: this process sees {len(local)} {local[0].platform} device(s){hint}"
        )
    by_process: dict[int, list] = {}
    for d in jax.devices():
        by_process.setdefault(d.process_index, []).append(d)
    devs = [d for p in sorted(by_process) for d in sorted(by_process[p], key=lambda d: d.id)[:n]]
    return Mesh(np.array(devs), (AXIS,))


def active_mesh(mesh: Mesh | None) -> Mesh | None:
    """``mesh``, or ``None`` when it has one device: every function here then takes the
    unsharded path, the computations of a single-device run exactly (a mesh spanning several
    processes has a device per process at least)."""
    return mesh if mesh is not None and mesh.size > 1 else None


def device_count(mesh: Mesh | None) -> int:
    """Devices the rows are split over (1 for no mesh or a one-device mesh)."""
    mesh = active_mesh(mesh)
    return 1 if mesh is None else mesh.size


def rows_per_device(n: int, mesh: Mesh | None) -> int:
    """Rows each device holds of ``n`` padded ones (:func:`padded_rows`)."""
    return padded_rows(n, mesh) // device_count(mesh)


def padded_rows(n: int, mesh: Mesh | None) -> int:
    """n rounded up to a multiple of the mesh's device count."""
    size = device_count(mesh)
    return -(-int(n) // size) * size


def _pad(a: np.ndarray, rows: int, zero: bool) -> np.ndarray:
    extra = rows - a.shape[0]
    if extra <= 0:
        return a
    fill = np.zeros_like(a[:1]) if zero else a[-1:]
    return np.concatenate([a, np.repeat(fill, extra, axis=0)])


def shard_rows(tree, mesh: Mesh | None, n: int | None = None, zero: Callable | None = None):
    """Every array leaf of ``tree`` with ``n`` rows (the first leaf's row count by default)
    padded to a multiple of the device count and placed row-sharded on ``mesh``; other leaves
    replicated. Padded rows copy the last row, except in the leaves ``zero(tree)`` selects
    (the weights), which are padded with zeros. Works across processes: every process passes
    the same global rows and each device takes its own (``jax.make_array_from_callback``)."""
    mesh = active_mesh(mesh)
    if mesh is None:
        return tree
    n = jax.tree.leaves(tree)[0].shape[0] if n is None else int(n)
    rows = padded_rows(n, mesh)
    zero_ids = {id(x) for x in jax.tree.leaves(zero(tree))} if zero is not None else set()
    row_sharding = NamedSharding(mesh, P(AXIS))
    replicated = NamedSharding(mesh, P())

    def place(x):
        if not hasattr(x, "shape"):
            return x
        if x.ndim == 0 or x.shape[0] != n:
            a = np.asarray(x)
            return jax.make_array_from_callback(a.shape, replicated, lambda idx: a[idx])
        a = _pad(np.asarray(x), rows, id(x) in zero_ids)
        return jax.make_array_from_callback(a.shape, row_sharding, lambda idx: a[idx])

    return jax.tree.map(place, tree)


def replicate(tree, mesh: Mesh | None):
    """Every array leaf of ``tree`` replicated on ``mesh`` (the parameters)."""
    mesh = active_mesh(mesh)
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, P())

    def place(x):
        if not hasattr(x, "shape"):
            return x
        if isinstance(x, jax.Array) and getattr(x.sharding, "mesh", None) == mesh:
            return x  # already on the mesh
        a = np.asarray(to_host(x))
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    return jax.tree.map(place, tree)


def gather(x) -> np.ndarray:
    """A (possibly sharded, possibly multi-process) array as one numpy array on every process."""
    return np.asarray(to_host(x))


def to_host(x):
    """``x`` readable by this process: an array spanning other processes' devices becomes a
    numpy array (its local copy when replicated, else gathered from all processes); anything
    else is returned as it is."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return x


def _local_blocks(fn: Callable, chunk: int, params, args: tuple, remat: bool):
    """``fn(params, *rows)`` (a batched function) on the rows of ``args`` in blocks of
    ``chunk`` rows under ``lax.map`` (rows padded with copies of the last one; their outputs
    are dropped)."""
    n = jax.tree.leaves(args)[0].shape[0]
    if n <= chunk:
        return fn(params, *args)
    pad = (-n) % chunk

    def blocks(a):
        a = jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]) if pad else a
        return a.reshape(-1, chunk, *a.shape[1:])

    one = lambda b: fn(params, *b)
    out = jax.lax.map(jax.checkpoint(one) if remat else one, jax.tree.map(blocks, args))
    return jax.tree.map(lambda o: o.reshape(-1, *o.shape[2:])[:n], out)


def map_blocks(
    fn: Callable,
    params: Any,
    *rows: Any,
    chunk: int | None,
    mesh: Mesh | None = None,
    remat: bool = True,
) -> Any:
    """``fn(params, *rows)`` for a batched, row-wise ``fn`` (rows of the output ↔ rows of
    ``rows``), traceable, in blocks of at most ``chunk`` rows per device: with a mesh each
    device maps its own rows (``shard_map``; ``params`` replicated, passed as an argument, not
    closed over, so that their gradient is all-reduced). Blocks are rematerialised
    (``jax.checkpoint``): a gradient holds one block's intermediates at a time."""
    mesh = active_mesh(mesh)
    chunk = chunk or jax.tree.leaves(rows)[0].shape[0]
    local = lambda q, *a: _local_blocks(fn, chunk, q, a, remat)
    if mesh is None:
        return local(params, *rows)
    specs = (P(), *(P(AXIS) for _ in rows))
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P(AXIS))(params, *rows)


def point_sum(fn: Callable, params: Any, *rows: Any, chunk: int | None, mesh: Mesh | None = None):
    """Σ_blocks ``fn(params, *block)`` (a pytree of partial sums of a batched ``fn``) in blocks
    of at most ``chunk`` rows per device, all-reduced over the mesh (``psum``). Padding rows
    must contribute zero (weight 0). A ``fn`` that differentiates with respect to ``params``
    (a vjp) must first make them per-device (``jax.lax.pcast(params, AXIS, to="varying")``):
    the cotangent of a replicated input is already summed over the devices, and the psum would
    count it once per device."""
    mesh = active_mesh(mesh)
    chunk = chunk or jax.tree.leaves(rows)[0].shape[0]

    def local(q, *a):
        n = jax.tree.leaves(a)[0].shape[0]
        whole = n - n % chunk  # rows in whole blocks
        if whole == 0:
            total = fn(q, *a)
        else:
            # the first block starts the sum (its type carries the device axis in shard_map)
            total = fn(q, *jax.tree.map(lambda x: x[:chunk], a))
            if whole > chunk:
                rest = lambda x: x[chunk:whole].reshape(-1, chunk, *x.shape[1:])
                add = lambda s, b: (jax.tree.map(jnp.add, s, fn(q, *b)), None)
                total = jax.lax.scan(add, total, jax.tree.map(rest, a))[0]
            if whole < n:
                total = jax.tree.map(jnp.add, total, fn(q, *jax.tree.map(lambda x: x[whole:], a)))
        return total if mesh is None else jax.lax.psum(total, AXIS)

    if mesh is None:
        return local(params, *rows)
    specs = (P(), *(P(AXIS) for _ in rows))
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P())(params, *rows)


def map_points(fn: Callable, model: Any, *rows: Any, mesh: Mesh | None, budget: int | None = None):
    """``vmap(fn)(model, *rows)`` for a per-point ``fn(model, *point)`` as numpy arrays: without
    a mesh :func:`ntkflow.memory.map_chunked` (chunks from the memory budget); with one, the rows
    sharded over its devices, each device mapping its own rows in chunks of the budget (per
    device), ``model`` replicated."""
    import equinox as eqx

    from ntkflow.memory import chunk_size, map_chunked

    mesh = active_mesh(mesh)
    if mesh is None:
        return map_chunked(lambda *p: fn(model, *p), *rows, budget=budget)
    n = jax.tree.leaves(rows)[0].shape[0]
    arrays, static = eqx.partition(model, eqx.is_array)
    batched = lambda q, *r: jax.vmap(lambda *p: fn(eqx.combine(q, static), *p))(*r)
    local_rows = rows_per_device(n, mesh)
    chunk = chunk_size(
        lambda *r: batched(arrays, *r), *rows, budget=budget, max_chunk=local_rows, probe=(8,)
    )
    run = jax.jit(lambda q, *r: map_blocks(batched, q, *r, chunk=chunk, mesh=mesh, remat=False))
    out = run(replicate(arrays, mesh), *shard_rows(tuple(rows), mesh, n))
    return jax.tree.map(lambda o: gather(o)[:n], out)


def multi_process() -> bool:
    """True when this process is one of several (after :func:`initialize`)."""
    return jax.process_count() > 1


def sync(name: str) -> None:
    """Wait until every process reaches this point (no-op for a single process)."""
    if multi_process():
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def agree(value: float) -> float:
    """Process 0's ``value`` on every process (e.g. the elapsed time that decides when a run
    stops, so that all processes take the same steps)."""
    if not multi_process():
        return value
    from jax.experimental import multihost_utils

    return float(multihost_utils.broadcast_one_to_all(np.float64(value)))


def any_process(flag: bool) -> bool:
    """True on every process when ``flag`` is true on any (a signal received by one)."""
    if not multi_process():
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.int32(bool(flag)))))


def agree_text(text: str, size: int = 4096) -> str:
    """Process 0's ``text`` on every process (e.g. the run directory it created)."""
    if not multi_process():
        return text
    from jax.experimental import multihost_utils

    raw = np.zeros(size, np.uint8)
    data = text.encode()[:size]
    raw[: len(data)] = np.frombuffer(data, np.uint8)
    out = np.asarray(multihost_utils.broadcast_one_to_all(raw))
    return bytes(out[out != 0]).decode()


def lost_peer(error: BaseException) -> str | None:
    """One line for a collective that failed because another process of a multi-process run
    died or stopped answering (``None`` for any other error)."""
    if not multi_process() or not isinstance(error, jax.errors.JaxRuntimeError):
        return None
    first = " ".join(str(error).split())[:300]
    return f"another process of the multi-process run stopped or lost contact ({first})"


def exit_now(code: int) -> None:
    """End a process of a multi-process run (nothing for a single process). A failed one
    ends at once: the orderly shutdown of ``jax.distributed`` would wait for a lost process and
    then abort with a stack trace. A successful one stops the watchdog, shuts
    ``jax.distributed`` down (its barrier: the processes end together) and ends without the
    interpreter's finalisation, in which a thread still inside the runtime would be unwound
    through C++ frames and abort the process after a successful run."""
    import sys

    if not multi_process():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    if code == 0:
        _STOP_WATCHDOG()
        try:
            jax.distributed.shutdown()
        except Exception as e:  # the work is done and written; say so, and end
            sys.stderr.write(f"warning: multi-process shutdown: {' '.join(str(e).split())[:200]}\n")
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def process_rows(n: int) -> tuple[int, int]:
    """The contiguous rows ``[start, stop)`` of ``n`` that this process reads and evaluates
    when every process keeps only its own share (rows split as evenly as possible)."""
    p, k = jax.process_count(), jax.process_index()
    return k * n // p, (k + 1) * n // p


def process_sum(x):
    """Σ over the processes of ``x`` (a number or array; ``x`` itself for a single process):
    the all-reduce of sums that each process took over its own rows."""
    if not multi_process():
        return x
    from jax.experimental import multihost_utils

    total = np.sum(np.asarray(multihost_utils.process_allgather(np.asarray(x))), axis=0)
    return total.item() if np.ndim(total) == 0 else total


def local_mesh(mesh: Mesh | None) -> Mesh | None:
    """The part of ``mesh`` on this process's devices (``None`` for one device): for work on
    rows only this process holds."""
    if mesh is None:
        return None
    devs = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    return Mesh(np.array(devs), (AXIS,)) if len(devs) > 1 else None


def process_share(n: int, mesh: Mesh | None) -> tuple[int, int]:
    """The real rows ``[start, stop)`` of ``n`` that this process's devices hold when ``n``
    rows are padded to a multiple of the mesh and split evenly, process by process (the
    layout of :func:`shard_rows`)."""
    if mesh is None or not multi_process():
        return 0, int(n)
    per = padded_rows(n, mesh) // jax.process_count()
    k = jax.process_index()
    return min(k * per, n), min((k + 1) * per, n)


def shard_local_rows(tree, mesh: Mesh, n: int, zero: Callable | None = None):
    """The global row-sharded arrays of ``n`` rows (the layout of :func:`shard_rows`) from
    the rows this process holds, :func:`process_share`: each process passes only its own
    rows (padded here, weights with zeros), so no process holds all of them."""
    rows = padded_rows(n, mesh)
    per = rows // jax.process_count()
    a, b = process_share(n, mesh)
    if b <= a:
        raise ParallelError(
            f"{n} points cannot be split over {mesh.size} devices of {jax.process_count()} "
            "processes; use more points or fewer devices"
        )
    zero_ids = {id(x) for x in jax.tree.leaves(zero(tree))} if zero is not None else set()
    sharding = NamedSharding(mesh, P(AXIS))

    def place(x):
        if not hasattr(x, "shape"):
            return x
        local = _pad(np.asarray(x), per, id(x) in zero_ids)
        return jax.make_array_from_process_local_data(sharding, local, (rows, *x.shape[1:]))

    return jax.tree.map(place, tree)
