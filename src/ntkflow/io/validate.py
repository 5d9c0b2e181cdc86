"""Checks on what a user gives ntkflow, before anything is computed or written.

Every command turns its options, TOML config, point files and run directories into values
through these checks (and :mod:`.config`, which uses them for dataclass fields), so a wrong
input is refused up front with ONE line naming the input, what is wrong and what to do:

- :class:`InputError` — the user must change an option, a config key or an input file
  (the command line exits with code 2);
- numbers: :func:`check_number` (type, finiteness, ranges);
- names: :func:`check_choice` and :func:`did_you_mean` (``difflib``) for misspelt values and
  config keys;
- sizes: :func:`check_memory` refuses a request whose estimated memory exceeds what this
  machine has available, with the estimate.

Runtime failures (a run that diverges, a corrupt checkpoint) are not :class:`InputError`:
the command line exits with code 1 for those.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable
from typing import Any


class InputError(ValueError):
    """An input the user must change (exit code 2 on the command line)."""


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'points'?"`` for the closest option (difflib), else ``""``."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``; else an :class:`InputError` with a suggestion."""
    choices = list(choices)
    if value in choices:
        return value
    hint = did_you_mean(value, [str(c) for c in choices]) if isinstance(value, str) else ""
    listed = ", ".join(str(c) for c in choices)
    raise InputError(f"{name} must be one of {listed}, got {value!r}{hint}")


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
) -> Any:
    """``value`` if it is a finite number (an integer when ``integer``) in
    ``[min, max]`` (``(min, max]`` when ``min_exclusive``); else an :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if integer else "a number"
        raise InputError(f"{name} must be {kind}, got {value!r}")
    if integer and not isinstance(value, int):
        if not float(value).is_integer():
            raise InputError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if min is not None:
        if min_exclusive and not value > min:
            raise InputError(f"{name} must be greater than {min:g}, got {value!r}")
        if not min_exclusive and value < min:
            raise InputError(f"{name} must be at least {min:g}, got {value!r}")
    if max is not None and value > max:
        raise InputError(f"{name} must be at most {max:g}, got {value!r}")
    return value


def gib(n_bytes: float) -> str:
    """``1.5 GiB``-style size."""
    return f"{n_bytes / 2**30:.3g} GiB"


def memory_available() -> int:
    """Bytes of memory this process can still use: ``MemAvailable`` from /proc/meminfo
    (Linux), else the physical memory; capped by ``RLIMIT_AS`` when one is set."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            avail = 2**63
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1):
            avail = min(avail, soft)
    except (ImportError, OSError, ValueError):
        pass
    return int(avail)


def check_memory(what: str, need_bytes: float, hint: str, fraction: float = 0.9) -> None:
    """Refuse ``what`` (an :class:`InputError`) when it needs more than ``fraction`` of the
    memory available, saying how much it needs, how much there is, and ``hint``."""
    have = memory_available()
    if need_bytes > fraction * have:
        raise InputError(
            f"{what} needs about {gib(need_bytes)} of memory, but this machine has "
            f"{gib(have)} available; {hint}"
        )
