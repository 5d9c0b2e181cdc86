"""Where a run runs: forcing the CPU backend, and the provenance saved in ``run.json``.

JAX picks a GPU when it sees one; nothing in ntkflow depends on the backend. To force the CPU
(for bitwise reproducible float64 runs, or to leave a GPU to someone else) pass ``--cpu`` or
set ``NTKFLOW_CPU=1``: :func:`select_backend` then sets ``JAX_PLATFORMS=cpu`` (and the
matching JAX config option). This only works before JAX creates its backends, i.e. before the
first array is made; afterwards :func:`select_backend` raises instead of silently running on
the wrong device.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

PACKAGES = ("ntkflow", "jax", "jaxlib", "equinox", "optax", "diffrax", "lineax", "numpy")


def cpu_requested(cpu: bool | None = None) -> bool:
    """``cpu`` if given, else whether ``NTKFLOW_CPU`` is set to a true value."""
    if cpu:
        return True
    return os.environ.get("NTKFLOW_CPU", "").strip().lower() in ("1", "true", "yes", "on")


def select_backend(cpu: bool | None = None) -> str | None:
    """Force the CPU backend when requested (flag or ``NTKFLOW_CPU``); return the platform
    forced, or ``None`` when JAX chooses."""
    if not cpu_requested(cpu):
        return None
    import jax
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized() and jax.default_backend() != "cpu":
        raise RuntimeError(
            "--cpu / NTKFLOW_CPU=1: JAX has already started on "
            f"{jax.default_backend()}; set NTKFLOW_CPU=1 before starting the program"
        )
    os.environ["JAX_PLATFORMS"] = "cpu"
    jax.config.update("jax_platforms", "cpu")
    return "cpu"


def package_versions() -> dict[str, str | None]:
    """Installed versions of ntkflow and the numerical stack (``None`` when absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info() -> dict[str, Any]:
    """JAX backend, devices and the x64 flag (initialises JAX's backends)."""
    import jax

    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),
        "jax_platforms": os.environ.get("JAX_PLATFORMS") or None,
    }


def provenance() -> dict[str, Any]:
    """Everything about the environment that a run records: versions, device, host."""
    return {
        "versions": package_versions(),
        "device": device_info(),
        "platform": platform.platform(),
        "argv": list(sys.argv),
    }
