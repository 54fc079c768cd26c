"""Peak memory of squeeze on a generated stream of any length.

    python -m frappe_cli.bench.memory --size 4GiB [--codec zstd] [--level 3]

Feeds SIZE bytes of generated, compressible data to ``squeeze -c`` through a
pipe, pipes the output into ``squeeze -dc`` and checks the bytes coming out,
then prints each process's peak resident memory.  The generated data never
exists as a whole anywhere, so the memory measured is squeeze's own.

The peak is the child's own ``VmHWM`` (/proc/self/status) read at exit: the
``ru_maxrss`` that wait4 reports also counts the parent's pages the child had
before exec, which would charge a large test runner's memory to squeeze.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# run the CLI and, at exit, record this process's own peak RSS (kB) in a file
_LAUNCH = (
    "import atexit, os, sys\n"
    "def _hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            open(os.environ['SQUEEZE_HWM_FILE'], 'w').write(line.split()[1])\n"
    "atexit.register(_hwm)\n"
    "from frappe_cli.cli import main\n"
    "main()\n"
)


def _launch(args: list[str], hwm: Path, **kw) -> subprocess.Popen:
    env = dict(os.environ, SQUEEZE_HWM_FILE=str(hwm))
    return subprocess.Popen([sys.executable, "-c", _LAUNCH, *args], env=env, **kw)


def pattern(i: int) -> bytes:
    """The i-th 64 KiB piece of the generated stream (compressible, never periodic)."""
    seed = hashlib.sha256(i.to_bytes(8, "little")).digest()
    words = [b"squeeze", b"block", b"stream", b"memory", b"bounded", seed[:4].hex().encode()]
    line = b" ".join(words[(seed[k] + i) % len(words)] for k in range(12)) + b"\n"
    return (line * (65536 // len(line) + 1))[:65536]


def run(size: int, codec: str = "zstd", level: int = 3, block: str | None = None,
        threads: int = 1) -> dict:
    args = ["-c", "-q", "--codec", codec, f"-{level}", "-T", str(threads)]
    if block:
        args += ["-B", block]
    tmp = Path(tempfile.mkdtemp(prefix="squeeze-mem-"))
    hwm_c, hwm_d = tmp / "compress", tmp / "decompress"
    comp = _launch(args, hwm_c, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    dec = _launch(["-dc", "-q", "-T", str(threads)], hwm_d, stdin=comp.stdout,
                  stdout=subprocess.PIPE)
    comp.stdout.close()
    h_in = hashlib.sha256()
    state = {"written": 0}

    def feed() -> None:
        n = 0
        i = 0
        try:
            while n < size:
                piece = pattern(i)[: size - n]
                comp.stdin.write(piece)
                h_in.update(piece)
                n += len(piece)
                i += 1
        finally:
            comp.stdin.close()
            state["written"] = n

    t = threading.Thread(target=feed)
    t.start()
    h_out = hashlib.sha256()
    got = 0
    while True:
        piece = dec.stdout.read(1 << 20)
        if not piece:
            break
        h_out.update(piece)
        got += len(piece)
    t.join()
    rc_c, rc_d = comp.wait(), dec.wait()

    def peak(p: Path) -> int:
        try:
            return int(p.read_text()) * 1024
        except (OSError, ValueError):
            return -1

    res = {
        "size": size, "codec": codec, "level": level, "threads": threads,
        "compress_peak_rss": peak(hwm_c), "decompress_peak_rss": peak(hwm_d),
        "ok": got == size and h_in.digest() == h_out.digest() and rc_c == 0 and rc_d == 0,
    }
    for p in (hwm_c, hwm_d):
        p.unlink(missing_ok=True)
    tmp.rmdir()
    return res


def main() -> int:
    from frappe_cli.fileio import parse_size

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="4GiB")
    ap.add_argument("--codec", default="zstd")
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--block-size")
    ap.add_argument("-T", "--threads", type=int, default=1)
    a = ap.parse_args()
    r = run(parse_size(a.size), a.codec, a.level, a.block_size, a.threads)
    print(f"{a.size} through squeeze --codec {a.codec} -{a.level} -T{a.threads}: "
          f"round trip {'OK' if r['ok'] else 'FAILED'}; peak RSS compress "
          f"{r['compress_peak_rss'] / 2**20:.0f} MiB, decompress "
          f"{r['decompress_peak_rss'] / 2**20:.0f} MiB")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
