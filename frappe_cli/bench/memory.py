"""Peak memory of squeeze on a generated stream of any length.

    python -m frappe_cli.bench.memory --size 4GiB [--codec zstd] [--level 3]

Feeds SIZE bytes of generated, compressible data to ``squeeze -c`` through a
pipe, pipes the output into ``squeeze -dc`` and checks the bytes coming out,
then prints each process's peak resident memory (ru_maxrss from wait4).  The
generated data never exists as a whole anywhere, so the memory measured is
squeeze's own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import threading


def pattern(i: int) -> bytes:
    """The i-th 64 KiB piece of the generated stream (compressible, never periodic)."""
    seed = hashlib.sha256(i.to_bytes(8, "little")).digest()
    words = [b"squeeze", b"block", b"stream", b"memory", b"bounded", seed[:4].hex().encode()]
    line = b" ".join(words[(seed[k] + i) % len(words)] for k in range(12)) + b"\n"
    return (line * (65536 // len(line) + 1))[:65536]


def run(size: int, codec: str = "zstd", level: int = 3, block: str | None = None,
        threads: int = 1) -> dict:
    cmd = [sys.executable, "-m", "frappe_cli", "-c", "-q", "--codec", codec, f"-{level}",
           "-T", str(threads)]
    if block:
        cmd += ["-B", block]
    comp = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    dec = subprocess.Popen([sys.executable, "-m", "frappe_cli", "-dc", "-q", "-T",
                            str(threads)], stdin=comp.stdout, stdout=subprocess.PIPE)
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
    _, st_c, ru_c = os.wait4(comp.pid, 0)
    _, st_d, ru_d = os.wait4(dec.pid, 0)
    return {
        "size": size, "codec": codec, "level": level, "threads": threads,
        "compress_peak_rss": ru_c.ru_maxrss * 1024, "decompress_peak_rss": ru_d.ru_maxrss * 1024,
        "ok": got == size and h_in.digest() == h_out.digest()
        and os.waitstatus_to_exitcode(st_c) == 0 and os.waitstatus_to_exitcode(st_d) == 0,
    }


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
