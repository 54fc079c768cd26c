"""The peer compressors ``squeeze bench`` measures squeeze against.

Each peer is in-process (Python bindings of the reference libraries), so its
time is measured the same way as squeeze's.  Most peers' packages come with
the ``bench`` extra only: a peer whose package (or program) is missing is
skipped with one line on stderr naming what is missing, never silently
dropped, and the others run.  Suites add peers of their own (``Suite.extra_peers``:
format-aware compressors such as ZipNN for model weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Peer:
    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes, int], bytes]
    needs: str = ""  # import name of the package providing it
    program: str = ""  # or: the external program it runs
    #: how to get ``needs``: a pip requirement (default: the bench extra)
    install: str = "'squeeze-codecs[bench]'"

    def available(self) -> bool:
        return self.missing() is None

    def missing(self) -> str | None:
        """What this peer lacks, as "X not installed (how to get it)"; None when usable."""
        if self.program:
            import shutil

            if shutil.which(self.program) is None:
                return (f"{self.program} not installed (no '{self.program}' program on PATH; "
                        f"e.g. apt-get install {self.program})")
            return None
        if not self.needs:
            return None
        import importlib.util

        try:
            found = importlib.util.find_spec(self.needs) is not None
        except (ImportError, ValueError):
            found = False
        return None if found else f"{self.needs} not installed (pip install {self.install})"


def _gzip_c(d: bytes) -> bytes:
    import gzip

    return gzip.compress(d, 9, mtime=0)


def _gzip_d(b: bytes, n: int) -> bytes:
    import gzip

    return gzip.decompress(b)


def _bz2_c(d: bytes) -> bytes:
    import bz2

    return bz2.compress(d, 9)


def _bz2_d(b: bytes, n: int) -> bytes:
    import bz2

    return bz2.decompress(b)


def _xz_c(d: bytes) -> bytes:
    import lzma

    return lzma.compress(d, preset=9 | lzma.PRESET_EXTREME)


def _xz_x86_c(d: bytes) -> bytes:
    import lzma

    return lzma.compress(d, format=lzma.FORMAT_XZ, filters=[
        {"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}])


def _xz_d(b: bytes, n: int) -> bytes:
    import lzma

    return lzma.decompress(b)


def _zstd_c(level: int) -> Callable[[bytes], bytes]:
    def c(d: bytes) -> bytes:
        import zstandard

        return zstandard.ZstdCompressor(level=level).compress(d)

    return c


def _zstd_d(b: bytes, n: int) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompress(b, max_output_size=max(n, 1))


def _brotli_c(d: bytes) -> bytes:
    import brotli

    return brotli.compress(d, quality=11, lgwin=24)


def _brotli_d(b: bytes, n: int) -> bytes:
    import brotli

    return brotli.decompress(b)


_PPMD_ORDER, _PPMD_MEM = 8, 256 << 20


def _ppmd_c(d: bytes) -> bytes:
    import pyppmd

    enc = pyppmd.Ppmd8Encoder(_PPMD_ORDER, _PPMD_MEM, pyppmd.PPMD8_RESTORE_METHOD_RESTART)
    return enc.encode(d) + enc.flush()


def _ppmd_d(b: bytes, n: int) -> bytes:
    import pyppmd

    dec = pyppmd.Ppmd8Decoder(_PPMD_ORDER, _PPMD_MEM, pyppmd.PPMD8_RESTORE_METHOD_RESTART)
    return dec.decode(b, n)


def _zpaq(method: str) -> tuple[Callable[[bytes], bytes], Callable[[bytes, int], bytes]]:
    """zpaq 7 (Debian's `zpaq` package) as an external program, one thread.

    zpaq archives files, so the data goes through a temporary file; the archive's
    size (with its small journaling overhead) is what is reported.  The runner's
    CPU clock counts child processes.
    """

    def comp(d: bytes) -> bytes:
        import subprocess
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as t:
            src, arc = Path(t) / "f", Path(t) / "a.zpaq"
            src.write_bytes(d)
            subprocess.run(["zpaq", "a", str(arc), "f", f"-m{method}", "-t1"], cwd=t,
                           check=True, capture_output=True)
            return arc.read_bytes()

    def dec(b: bytes, n: int) -> bytes:
        import subprocess
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as t:
            arc = Path(t) / "a.zpaq"
            arc.write_bytes(b)
            (Path(t) / "out").mkdir()
            subprocess.run(["zpaq", "x", str(arc), "-to", "out", "-t1"], cwd=t, check=True,
                           capture_output=True)
            p = Path(t) / "out" / "f"
            return p.read_bytes() if p.exists() else b""

    return comp, dec


PEERS: dict[str, Peer] = {
    "gzip-9": Peer("gzip-9", _gzip_c, _gzip_d),
    "bzip2-9": Peer("bzip2-9", _bz2_c, _bz2_d),
    "xz-9e": Peer("xz-9e", _xz_c, _xz_d),
    "xz-x86-9e": Peer("xz-x86-9e", _xz_x86_c, _xz_d),
    "zstd-3": Peer("zstd-3", _zstd_c(3), _zstd_d, "zstandard", install="zstandard"),
    "zstd-19": Peer("zstd-19", _zstd_c(19), _zstd_d, "zstandard", install="zstandard"),
    "brotli-11": Peer("brotli-11", _brotli_c, _brotli_d, "brotli"),
    "ppmd8-o8": Peer("ppmd8-o8", _ppmd_c, _ppmd_d, "pyppmd"),
    "zpaq-m4": Peer("zpaq-m4", *_zpaq("4"), program="zpaq"),
    "zpaq-m5": Peer("zpaq-m5", *_zpaq("5"), program="zpaq"),
}

#: the set ``squeeze bench`` runs when --peers is not given
DEFAULT_PEERS = ["gzip-9", "bzip2-9", "xz-9e", "zstd-3", "zstd-19", "brotli-11", "ppmd8-o8"]

