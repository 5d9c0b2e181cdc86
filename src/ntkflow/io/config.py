"""Checks on user input, and run configurations: TOML files read into frozen dataclasses.
A wrong input is ONE line (:class:`InputError`, exit code 2); :func:`resolve_config` applies
defaults < TOML file < overrides. Details: docs/derivations.md#io-config."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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


def memory_available() -> int:
    """Bytes of memory this process can still use: ``MemAvailable`` from /proc/meminfo
    (Linux), else the physical memory; capped by ``RLIMIT_AS`` when one is set."""
    avail = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        kib = [int(ln.split()[1]) for ln in f if ln.startswith("MemAvailable:")]
        avail = kib[0] * 1024 if kib else None
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            avail = 2**63
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1):
            avail = min(avail, soft)
    return int(avail)


def check_memory(what: str, need_bytes: float, hint: str, fraction: float = 0.9) -> None:
    """Refuse ``what`` (an :class:`InputError`) when it needs more than ``fraction`` of the
    memory available, saying how much it needs, how much there is, and ``hint``."""
    have = memory_available()
    if need_bytes > fraction * have:
        need, avail = (f"{b / 2**30:.3g} GiB" for b in (need_bytes, have))
        raise InputError(
            f"{what} needs about {need} of memory, but this machine has {avail} available; {hint}"
        )


class ConfigError(InputError):
    """A configuration file or override is invalid (unknown key, wrong type, out of range,
    bad TOML); a usage error."""


def option(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    choices: tuple[Any, ...] | None = None,
    flag: str | None = None,
) -> Any:
    """A dataclass field with its help sentence and allowed values (checked on load).

    ``flag`` is the command-line spelling when it differs from ``--<field-name>``.
    """
    meta = {"help": help, "min": min, "max": max, "min_exclusive": min_exclusive}
    meta |= {"choices": choices, "flag": flag}
    return dataclasses.field(default=default, metadata=meta)


def _check_field(f: dataclasses.Field, value: Any, key: str) -> None:
    meta = f.metadata
    try:
        if meta.get("choices") is not None:
            check_choice(key, value, meta["choices"])
        lo, hi = meta.get("min"), meta.get("max")
        if (lo is not None or hi is not None) and value is not None:
            strict = meta.get("min_exclusive", False)
            check_number(
                key, value, integer=isinstance(value, int), min=lo, max=hi, min_exclusive=strict
            )
    except InputError as e:
        raise ConfigError(str(e)) from None


def check_fields(config) -> None:
    """The choices and ranges declared with :func:`ntkflow.io.option` of every field of a
    config dataclass, also when it is built directly (not from TOML or flags)."""
    for f in dataclasses.fields(config):
        _check_field(f, getattr(config, f.name), f.name)


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; syntax errors and missing files become :class:`ConfigError`."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None


_SCALARS = {
    bool: (bool, "true or false"),
    int: (int, "an integer"),
    float: (int | float, "a number"),
    str: (str, "a string"),
}


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (lists to tuples, ints to
    floats, tables to nested dataclasses)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table (section), got {value!r}")
        return _from_mapping(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in [a for a in args if a is not type(None)]:
            with contextlib.suppress(ConfigError):
                return _convert(value, a, where)
        raise ConfigError(f"{where}: {value!r} does not fit {tp}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:  # fixed length
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} entries, got {len(value)}")
        else:
            args = (args[0] if args else Any,) * len(value)
        pairs = enumerate(zip(value, args, strict=True))
        items = [_convert(v, a, f"{where}[{i}]") for i, (v, a) in pairs]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if tp in _SCALARS:
        types_, what = _SCALARS[tp]
        if isinstance(value, bool) is not (tp is bool) or not isinstance(value, types_):
            raise ConfigError(f"{where}: expected {what}, got {value!r}")
        if tp is float and not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value) if tp is float else value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _from_mapping(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{where}." if where else ""
    unknown = [k for k in data if k not in fields]
    if unknown:
        hint = did_you_mean(unknown[0], fields)
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s}{hint} (known keys here: "
            f"{', '.join(fields)})"
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
            _check_field(f, kwargs[name], key)
        elif dataclasses.is_dataclass(hints[name]) and f.default is dataclasses.MISSING:
            kwargs[name] = _from_mapping(hints[name], {}, key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required config key {key}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:  # a cross-field rule of __post_init__
        raise ConfigError(" ".join(str(e).split())) from None


def from_dict(cls: type[T], data: Mapping[str, Any], source: str = "config") -> T:
    """Build the dataclass ``cls`` from a (nested) mapping, checking keys and types.

    ``source`` (a file name, "overrides") prefixes error messages.
    """
    try:
        return _from_mapping(cls, data, "")
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {p} is not a section")
        node = child
    node[parts[-1]] = value


def resolve_config(
    cls: type[T],
    path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
) -> T:
    """Defaults of ``cls``, then the TOML file ``path`` (if any), then ``overrides`` (dotted
    keys; ``None`` = flag not given). A top-level override is checked on its own first and
    named in errors by ``flags[key]`` (e.g. ``"--points"``) or ``--<key>``."""
    data: dict[str, Any] = load_toml(path) if path is not None else {}
    source = str(path) if path is not None else "config"
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    hints = typing.get_type_hints(cls) if fields else {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in fields:
            f = fields[key]
            name = (flags or {}).get(key) or f.metadata.get("flag") or "--" + key.replace("_", "-")
            value = _convert(value, hints[key], name)
            _check_field(f, value, name)
        _set_dotted(data, key, value)
        source = f"{path} + command-line flags" if path is not None else "command-line flags"
    return from_dict(cls, data, source)


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain (JSON/TOML-friendly) nested dict; tuples become lists."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(u) for k, u in v.items()}
        if isinstance(v, list | tuple):
            return [plain(u) for u in v]
        return v

    if isinstance(config, Mapping):
        return plain(dict(config))
    return plain(dataclasses.asdict(config))
