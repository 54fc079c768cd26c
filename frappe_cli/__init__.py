"""squeeze: a compression toolkit (the `frappe_cli` import package).

Only the version and a few cheap environment settings live here: importing this
package must stay cheap so that ``squeeze --help`` and the zstd fallback start
fast.
"""

__version__ = "0.1.0"


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

    here = os.path.dirname(os.path.abspath(__file__))
    roots = [os.path.join(here, "coding"), os.path.join(os.path.dirname(here), "codecs")]
    parts = [__version__]
    for root in roots:
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


_numba_cache_dir()
