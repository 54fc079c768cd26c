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


def lazy_exports(namespace: dict, table: dict):
    """``(__getattr__, __dir__)`` of a package whose names in ``table`` (name -> the
    module defining it) are imported on first use (PEP 562), so that importing the
    package stays cheap; ``namespace`` is the package's ``globals()``.  Used by this
    package and the codec packages."""

    def __getattr__(name: str):
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)


def _numba_cache_dir() -> None:
    """Key numba's on-disk cache by the *contents* of every kernel source.

    numba invalidates a cached function when *its own* file changes, not when a
    function it calls from another module does: after a ``git pull`` that edits
    the CM engine but not a codec's kernel module, the stale compiled kernel
    would still run (and encode a different bitstream).  A cache folder per
    digest of all kernel sources (their bytes and names relative to their
    package, never their location) makes every such change a clean recompile,
    while a second clone, a reinstall or the wheel of identical code reuses the
    compiled kernels (``frappe_cli.jit`` keeps numba itself from keying the
    files by their path).  ``NUMBA_CACHE_DIR`` set by the user wins.
    """
    import os

    if "NUMBA_CACHE_DIR" in os.environ:
        return
    base = os.path.join(_cache_home(), "squeeze")
    path = os.path.join(base, _cache_folder_name())
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return  # numba's default (beside the sources) then applies
    os.environ["NUMBA_CACHE_DIR"] = path


def _cache_home() -> str:
    import os

    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def _cache_folder_name() -> str:
    """``numba-<digest>``: the cache folder of this exact set of kernel sources."""
    return f"numba-{_sources_digest()[:16]}"


_DIGEST: str | None = None


def _sources_digest() -> str:
    """SHA-256 (hex) of every kernel source: its name in its package and its bytes.

    Reading ~0.5 MB of sources on every start would cost a few milliseconds, so
    the digest is remembered in a small file under ``~/.cache/squeeze/srcdigest``
    keyed by the files' paths, sizes and mtimes: a start only walks and stats
    the files (as before) and reads that one file; the sources are read again
    only when one of them changes (or moves).
    """
    global _DIGEST
    if _DIGEST is not None:
        return _DIGEST
    import os
    import zlib

    files = []
    for label, root in _kernel_roots():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    st = os.stat(full)
                    rel = os.path.relpath(full, root).replace(os.sep, "/")
                    files.append((f"{label}/{rel}", full, st.st_size, st.st_mtime_ns))
    stamp = "\n".join([__version__] + [f"{f[1]}:{f[2]}:{f[3]}" for f in files]).encode()
    memo = os.path.join(_cache_home(), "squeeze", "srcdigest",
                        f"{zlib.crc32(stamp):08x}{zlib.adler32(stamp):08x}")
    try:
        with open(memo, "rb") as f:
            line, _, rest = f.read().partition(b"\n")
        if rest == stamp and len(line) == 64:
            _DIGEST = line.decode("ascii")
            return _DIGEST
    except (OSError, UnicodeDecodeError):
        pass
    import hashlib

    h = hashlib.sha256(__version__.encode() + b"\0")
    stable = True
    for rel, full, size, mtime in files:
        with open(full, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        stable = stable and (st.st_size, st.st_mtime_ns) == (size, mtime)
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    _DIGEST = h.hexdigest()
    if stable:  # never remember a digest for a stat that changed while reading
        try:
            os.makedirs(os.path.dirname(memo), exist_ok=True)
            tmp = f"{memo}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(_DIGEST.encode("ascii") + b"\n" + stamp)
            os.replace(tmp, memo)
        except OSError:
            pass
    return _DIGEST


def _kernel_roots() -> list[tuple[str, str]]:
    """``(label, folder)`` of every package that may hold numba kernels, wherever installed.

    The core's coding layer (label ``frappe_cli.coding``) and the top-level
    package of every built-in codec (the registry's table; label: the package
    name), found with ``importlib.util.find_spec``, which locates a top-level
    package without importing it: a checkout (``codecs/`` on ``sys.path``) and
    an installed wheel (``site-packages/squeeze_*``) are covered alike, and the
    labels are the same in both.
    """
    import os
    from importlib.util import find_spec

    from frappe_cli.registry import BUILTIN

    roots = [(f"{__name__}.coding",
              os.path.join(os.path.dirname(os.path.abspath(__file__)), "coding"))]
    for target in BUILTIN.values():
        top = target.partition(":")[0].split(".")[0]
        if top == __name__:
            continue
        try:
            spec = find_spec(top)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if all(loc != r for _, r in roots):
                roots.append((top, loc))
    return roots


_numba_cache_dir()
