"""Codec ids -> codec classes.

Built-in codecs are listed here as ``"module:Class"`` strings and imported
only when first used.  Third-party codecs register through the
``squeeze.codecs`` entry-point group (as numcodecs does)::

    [project.entry-points."squeeze.codecs"]
    my-codec = "my_package.module:MyCodec"

A plugin may not take the id of a built-in codec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from frappe_cli.errors import OptionError, UnsupportedError

if TYPE_CHECKING:  # pragma: no cover
    from frappe_cli.codec import Codec

ENTRY_POINT_GROUP = "squeeze.codecs"

#: id -> "module:Class"; modules must import cheaply (kernels load lazily)
BUILTIN: dict[str, str] = {
    "store": "frappe_cli.zstd_store:StoreCodec",
    "zstd": "frappe_cli.zstd_store:ZstdCodec",
    "text": "squeeze_text.codec:TextCodec",
    "exe": "squeeze_binary.codec:ExeCodec",
    "dfloat11": "squeeze_weights.codec:DFloat11Codec",
    "enec": "squeeze_weights.codec:EnecCodec",
    "frappe": "squeeze_image.codec:FrappeCodec",
}

_cache: dict[str, type] = {}
_runtime: dict[str, type] = {}  # registered with register() (tests, embedding)
_plugins: dict[str, str] | None = None


def _plugin_entry_points() -> dict[str, str]:
    """Third-party codecs: id -> "module:Class" from the ``squeeze.codecs`` group.

    Read straight from the ``entry_points.txt`` files of the distributions on
    ``sys.path`` (the first distribution of a name wins, as importlib.metadata
    does): importing importlib.metadata alone costs ~40 ms, more than the rest of
    ``squeeze --help``.
    """
    global _plugins
    if _plugins is None:
        _plugins = {}
        for name, target in _scan_entry_points(ENTRY_POINT_GROUP):
            if name not in BUILTIN:
                _plugins.setdefault(name, target)
    return _plugins


def _scan_entry_points(group: str) -> list[tuple[str, str]]:
    import configparser
    import os
    import sys

    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for d in names:
            if not d.endswith((".dist-info", ".egg-info")):
                continue
            # "name-version.dist-info", "name.egg-info": one distribution per name
            dist = d[:d.rfind(".")].split("-")[0].lower().replace("_", "-")
            if dist in seen:
                continue
            seen.add(dist)
            path = os.path.join(entry or ".", d, "entry_points.txt")
            if not os.path.isfile(path):
                continue
            cp = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            cp.optionxform = str  # type: ignore[assignment]
            try:
                cp.read(path, encoding="utf-8")
            except (configparser.Error, OSError, UnicodeDecodeError):
                continue
            if cp.has_section(group):
                found.extend((k.strip(), v.strip()) for k, v in cp.items(group))
    return found


def entry_points(group: str) -> list[tuple[str, str]]:
    """``(name, "module:attr")`` of the ``group`` entry points of the distributions on
    ``sys.path``, without importing importlib.metadata (other plugin kinds use it too,
    e.g. the ``squeeze.bench_suites`` of ``squeeze bench``)."""
    return _scan_entry_points(group)


def _load_target(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def available_ids() -> list[str]:
    """Every codec id this installation can use (built-ins whose module imports)."""
    ids = []
    extra = sorted(set(_plugin_entry_points()) | set(_runtime))
    for cid in list(BUILTIN) + extra:
        try:
            get_class(cid)
        except UnsupportedError:
            continue
        ids.append(cid)
    return ids


def get_class(codec_id: str) -> type["Codec"]:
    """Return the codec class for ``codec_id`` or raise UnsupportedError."""
    if codec_id in _cache:
        return _cache[codec_id]
    try:
        if codec_id in BUILTIN:
            cls = _load_target(BUILTIN[codec_id])
        else:
            target = _plugin_entry_points().get(codec_id)
            if target is None:
                raise UnsupportedError(f"Unsupported options: unknown codec '{codec_id}'")
            cls = _load_target(target)
    except (ImportError, AttributeError) as exc:
        raise UnsupportedError(
            f"Unsupported options: codec '{codec_id}' is not available ({exc})"
        ) from exc
    if getattr(cls, "codec_id", None) != codec_id:
        raise UnsupportedError(f"Unsupported options: codec '{codec_id}' is misregistered")
    _cache[codec_id] = cls
    return cls


def register(cls: type["Codec"]) -> type["Codec"]:
    """Register a codec class at run time (tests, embedding); usable as a decorator."""
    if cls.codec_id in BUILTIN:
        raise OptionError(f"codec id '{cls.codec_id}' is taken by a built-in codec")
    _cache[cls.codec_id] = cls
    _runtime[cls.codec_id] = cls
    return cls


def unregister(codec_id: str) -> None:
    if codec_id not in BUILTIN:
        _cache.pop(codec_id, None)
        _runtime.pop(codec_id, None)


def make(codec_id: str, level: int | None = None, **params) -> "Codec":
    """Instantiate a codec by id (for compression)."""
    cls = get_class(codec_id)
    if level is None:
        return cls(**params)
    return cls(level=level, **params)


def from_config(cfg: dict) -> "Codec":
    """Rebuild the codec a stream header describes (for decompression)."""
    codec_id = cfg.get("id")
    if not isinstance(codec_id, str):
        raise UnsupportedError("Unsupported options: header names no codec")
    cls = get_class(codec_id)
    try:
        return cls.from_config(cfg)
    except (TypeError, ValueError, OptionError) as exc:
        raise UnsupportedError(f"Unsupported options: {codec_id}: {exc}") from exc
