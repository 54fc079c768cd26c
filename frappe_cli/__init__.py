"""squeeze: a compression toolkit (the `frappe_cli` import package).

Only the version and a few cheap environment settings live here: importing this
package must stay cheap so that ``squeeze --help`` and the zstd fallback start
fast.
"""

__version__ = "0.1.0"

from frappe_cli.errors import (  # noqa: E402 - the error tree is cheap (no imports)
    CorruptError,
    FormatError,
    InputError,
    MemoryLimitError,
    OptionError,
    SqueezeError,
    TruncatedError,
    UnsupportedError,
)

#: the public API, imported on first use so that ``import frappe_cli`` stays cheap
_LAZY = {
    "compress": "frappe_cli.api",
    "decompress": "frappe_cli.api",
    "Compressor": "frappe_cli.api",
    "Decompressor": "frappe_cli.api",
    "open": "frappe_cli.api",
    "SqueezeFile": "frappe_cli.api",
    "compress_files": "frappe_cli.distributed",
}

__all__ = [
    "__version__", "compress", "decompress", "Compressor", "Decompressor", "open",
    "SqueezeFile", "compress_files", "SqueezeError", "FormatError", "CorruptError",
    "TruncatedError", "UnsupportedError", "MemoryLimitError", "OptionError", "InputError",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'frappe_cli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _numba_cache_dir() -> None:
    """Key numba's on-disk cache by the sources of every kernel.

    numba invalidates a cached function when *its own* file changes, not when a
    function it calls from another module does: after a ``git pull`` that edits
    the CM engine but not a codec's kernel module, the stale compiled kernel
    would still run (and encode a different bitstream).  A cache folder per
    fingerprint of all kernel sources (paths, sizes, mtimes: no file is read)
    makes every such change a clean recompile.  ``NUMBA_CACHE_DIR`` set by the
    user wins.  Costs well under a millisecond.
    """
    import os

    if "NUMBA_CACHE_DIR" in os.environ:
        return
    import zlib

    parts = [__version__]
    for root in _kernel_roots():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(dirpath, name))
                    parts.append(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = ";".join(parts).encode()
    path = os.path.join(base, "squeeze", f"numba-{zlib.crc32(key):08x}{zlib.adler32(key):08x}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return  # numba's default (beside the sources) then applies
    os.environ["NUMBA_CACHE_DIR"] = path


def _kernel_roots() -> list[str]:
    """Folders of every package that may hold numba kernels, wherever they are installed.

    The core's coding layer and the top-level package of every built-in codec
    (the registry's table), found with ``importlib.util.find_spec``, which
    locates a top-level package without importing it: a checkout (``codecs/``
    on ``sys.path``) and an installed wheel (``site-packages/squeeze_*``) are
    covered alike.
    """
    import os
    from importlib.util import find_spec

    from frappe_cli.registry import BUILTIN

    roots = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "coding")]
    for target in BUILTIN.values():
        top = target.partition(":")[0].split(".")[0]
        if top == __name__:
            continue
        try:
            spec = find_spec(top)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if loc not in roots:
                roots.append(loc)
    return roots


_numba_cache_dir()
