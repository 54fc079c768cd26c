"""Safe file handling for the CLI: atomic outputs, peeking readers, size parsing.

Outputs are written to a hidden temporary file in the destination folder and
renamed into place only after everything was written and flushed to disk; on
any error (full disk, Ctrl-C, corrupt input) the temporary file is removed, so
a partial output never appears under the final name.  Without ``force`` an
existing file is never replaced (the final step uses ``os.link``, which fails
instead of overwriting, so a file created meanwhile is not clobbered either).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from frappe_cli.errors import OptionError, OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicOutput:
    """Context manager yielding a writable binary file that becomes ``path`` on success."""

    def __init__(self, path: Path, *, force: bool, like: Path | None = None):
        self.path = Path(path)
        self.force = force
        self.like = like
        self.tmp: Path | None = None
        self.f: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        name = str(self.path)
        if self.path.exists() and not self.force:
            raise OutputError("File exists", name)
        if self.path.is_dir():
            raise OutputError("Is a directory", name)
        parent = self.path.parent
        # ".NAME.XXXXXXXX.tmp", or a short name when that would pass NAME_MAX (255)
        prefix = f".{self.path.name}."
        if len(os.fsencode(prefix)) > 255 - 16:
            prefix = ".sqz-"
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
        except OSError as exc:
            raise OutputError(describe_oserror(exc), name) from None
        self.tmp = Path(tmp)
        self.f = OutputFile(os.fdopen(fd, "wb"), name)
        return self.f  # type: ignore[return-value]

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.f is not None and self.tmp is not None
        try:
            if exc_type is None:
                try:
                    self.f.flush()
                    os.fsync(self.f.fileno())
                    self.f.close()
                    if self.like is not None:
                        _copy_metadata(self.like, self.tmp)
                    else:  # no input file (stdin): the usual 0666 & ~umask, not mkstemp's 0600
                        os.chmod(self.tmp, 0o666 & ~_umask())
                    self._place()
                except OSError as e:
                    raise OutputError(describe_oserror(e), str(self.path)) from None
                _fsync_dir(self.path.parent)
            else:
                self.f.close()
        finally:
            if not self.f.closed:
                try:
                    self.f.close()
                except OSError:
                    pass
            if self.tmp.exists():
                try:
                    self.tmp.unlink()
                except OSError:
                    pass
        return False

    def _place(self) -> None:
        assert self.tmp is not None
        if self.force:
            os.replace(self.tmp, self.path)
            return
        try:
            os.link(self.tmp, self.path)
        except FileExistsError:
            raise OutputError("File exists", str(self.path)) from None
        except OSError:
            # file systems without hard links: check-then-rename
            if self.path.exists():
                raise OutputError("File exists", str(self.path)) from None
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink()


def decoded_name(src: BinaryIO, dest: Path) -> tuple[Path, str | None]:
    """Decompression to a name derived from the input (``photo.jpg.sqz`` ->
    ``photo.jpg``): the first stream's codec may name the output otherwise when the
    decoded bytes are in a format that name does not say (``Codec.output_name``; the
    image codec writes ``photo.png``).  Returns ``(path, why)``: ``why`` (what to say
    once on stderr) is None when the name stays.  ``src`` must be seekable; its
    position is kept.  A header that cannot be read leaves the name as it is (the
    decoding that follows reports the problem)."""
    from frappe_cli import container, registry
    from frappe_cli.errors import SqueezeError

    try:
        pos = src.tell()
    except (OSError, AttributeError, ValueError):
        return dest, None
    try:
        header = container.read_header(container._Reader(src))
        got = registry.get_class(header.codec_id).output_name(dest.name, dict(header.params))
    except (SqueezeError, OSError, ValueError):
        return dest, None
    finally:
        try:
            src.seek(pos)
        except OSError:
            pass
    if not got:
        return dest, None
    name, why = got
    # a plain name in the same folder, never a path elsewhere
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or os.sep in name or "\0" in name or name == dest.name:
        return dest, None
    return dest.with_name(name), why


class OutputFile:
    """An output stream (the temporary file, or standard output as ``(stdout)``);
    a failed write names the output, not the input."""

    def __init__(self, f: BinaryIO, name: str):
        self._f = f
        self.name = name

    def write(self, b) -> int:
        try:
            return self._f.write(b)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(describe_oserror(exc), self.name) from None

    def flush(self) -> None:
        try:
            self._f.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(describe_oserror(exc), self.name) from None

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        self._f.close()

    @property
    def closed(self) -> bool:
        return self._f.closed


def _copy_metadata(src: Path, dst: Path) -> None:
    try:
        st = src.stat()
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError:
        pass


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class PeekReader(io.RawIOBase):
    """A reader that first returns ``prefix`` and then the rest of ``raw``."""

    def __init__(self, raw: BinaryIO, prefix: bytes):
        self.raw = raw
        self.prefix = prefix

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.prefix:
            if n is None or n < 0:
                out, self.prefix = self.prefix + self.raw.read(), b""
                return out
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            return out
        return self.raw.read(n)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def peek(f: BinaryIO, n: int) -> tuple[bytes, BinaryIO]:
    """Read up to ``n`` bytes for sniffing and return them with a reader that replays them."""
    from frappe_cli.codec import read_exact

    head = read_exact(f, n)
    return head, PeekReader(f, head)  # type: ignore[return-value]


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)?\s*$", re.I)


def parse_size(text: str) -> int:
    """Parse ``1048576``, ``512KiB``, ``64M``, ``1.5GB`` or ``40%`` (of RAM) into bytes."""
    t = text.strip()
    if t.endswith("%"):
        try:
            pct = float(t[:-1])
        except ValueError:
            raise OptionError(f"invalid size '{text}'") from None
        if not 0 < pct <= 100:
            raise OptionError(f"invalid size '{text}'")
        return int(total_ram() * pct / 100)
    m = _SIZE.match(t)
    if not m:
        raise OptionError(f"invalid size '{text}'")
    num, unit, tail = float(m.group(1)), m.group(2).lower(), (m.group(3) or "").lower()
    base = 1000 if tail == "b" and unit else 1024
    mult = {"": 1, "k": base, "m": base**2, "g": base**3, "t": base**4}[unit]
    return int(num * mult)


def total_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def describe_oserror(exc: OSError) -> str:
    return exc.strerror or str(exc)


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return -1
