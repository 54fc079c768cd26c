"""numba as squeeze's kernels use it: ``from frappe_cli.jit import njit``.

Importing this module imports numba (never import it from a module that must
stay cheap) and registers, once, a cache locator for squeeze's own kernel
modules (those under ``frappe_cli/coding`` and the built-in codec packages).
Every kernel module imports ``njit`` (and friends) from here, so the locator is
in place before its first ``@njit(cache=True)`` function is defined: numba
picks a function's cache locator when the function is decorated.

Why: numba keys its on-disk cache by the source file's *path* (a subfolder
per source folder) and validates entries by the file's stamp.  A second
clone, a reinstall or a wheel of the very same code then recompiles every
kernel: 10-60 s of CPU per codec.  :class:`SqueezeCacheLocator` instead files
a module's kernels under a folder named after its package (``squeeze_text``,
``frappe_cli.coding.cm``), inside the folder ``frappe_cli`` keys by the
digest of every kernel source's content (``~/.cache/squeeze/numba-<digest>``,
which also invalidates a kernel when a callee in another module changes), and
stamps entries with a hash of the file's bytes.  Functions of any other file
(user code, tests) keep numba's own locators.
"""

from __future__ import annotations

import hashlib
import os

import numba
from numba import njit, prange, types
from numba.core import caching, config

import frappe_cli

__all__ = ["SqueezeCacheLocator", "njit", "numba", "prange", "types"]

_ROOTS: list[tuple[str, str]] | None = None
_STAMPS: dict[tuple[str, int, int], str] = {}


def _roots() -> list[tuple[str, str]]:
    """``(label, folder + os.sep)`` of squeeze's kernel packages (computed once)."""
    global _ROOTS
    if _ROOTS is None:
        _ROOTS = [(label, os.path.normcase(os.path.abspath(folder)) + os.sep)
                  for label, folder in frappe_cli._kernel_roots()]
    return _ROOTS


def _cache_base() -> str | None:
    """The folder squeeze's kernels are cached under, or None (numba's defaults apply).

    ``frappe_cli`` points ``NUMBA_CACHE_DIR`` at ``.../numba-<digest of the kernel
    sources>``; a folder the user chose (or an inherited one of other sources)
    gets that ``numba-<digest>`` level inside it, so that it is keyed by the
    sources' contents as well.
    """
    base = config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR", "")
    if not base:
        return None
    name = frappe_cli._cache_folder_name()
    if os.path.basename(os.path.normpath(base)) == name:
        return base
    return os.path.join(base, name)


def package_subpath(py_file: str) -> str | None:
    """The cache subfolder of a kernel source: its package's dotted name, or None
    when the file is not part of squeeze's kernel packages."""
    path = os.path.normcase(os.path.abspath(py_file))
    for label, root in _roots():
        if path.startswith(root):
            rel = os.path.dirname(path[len(root):])
            return ".".join([label] + [p for p in rel.split(os.sep) if p])
    return None


def source_digest(path: str) -> str:
    """SHA-256 (hex) of a file's bytes, remembered per (path, size, mtime)."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    digest = _STAMPS.get(key)
    if digest is None:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        _STAMPS[key] = digest
    return digest


class SqueezeCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator of squeeze's kernels: keyed by content, never by path."""

    def __init__(self, py_func, py_file: str, cache_path: str):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = cache_path

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        # the file's content (numba < 0.61 used its mtime and size: a fresh
        # clone then never matched an index entry)
        return "sha256:" + source_digest(self._py_file)

    @classmethod
    def from_function(cls, py_func, py_file):
        if not isinstance(py_file, str) or not os.path.isfile(py_file):
            return None
        sub = package_subpath(py_file)
        base = _cache_base() if sub is not None else None
        if base is None:
            return None  # not a squeeze kernel (or no cache folder): numba's locators
        self = cls(py_func, py_file, os.path.join(base, sub))
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


def _register() -> None:
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # numba < 0.61
    classes = impl._locator_classes
    if not any(getattr(c, "__name__", "") == SqueezeCacheLocator.__name__
               and c.__module__ == __name__ for c in classes):
        classes.insert(0, SqueezeCacheLocator)


_register()
