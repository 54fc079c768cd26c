"""``make demo``: compress, verify and decompress real samples with the squeeze CLI.

Uses files of ../shared/corpora (or ``$SQUEEZE_CORPORA``) when present and the
project's own sources otherwise, runs the installed ``squeeze`` command exactly
as a user would, checks every round trip byte for byte and prints the sizes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ["canterbury/alice29.txt", "canterbury/kennedy.xls", "canterbury/sum",
           "enwik8-prefix/enwik8.head4m"]


def _samples(work: Path) -> list[Path]:
    corpora = Path(os.environ.get("SQUEEZE_CORPORA", REPO.parent / "shared" / "corpora"))
    out = []
    for s in SAMPLES:
        p = corpora / s
        if not p.is_file():
            continue
        dst = work / p.name
        if p.name == "enwik8.head4m":  # the StateSMix paper's 1 MB prefix
            dst = work / "enwik8-1MB"
            dst.write_bytes(p.read_bytes()[:1_000_000])
        else:
            shutil.copyfile(p, dst)
        out.append(dst)
    if not out:  # no corpora: the project's own sources are a real text sample
        dst = work / "squeeze-sources.txt"
        with open(dst, "wb") as f:
            for src in sorted(REPO.glob("frappe_cli/**/*.py")):
                f.write(src.read_bytes())
        print(f"(corpora not found at {corpora}: using the project's sources)")
        out.append(dst)
    elf = shutil.which("ls")  # an executable of this machine: the exe codec
    if elf and Path(elf).is_file() and Path(elf).read_bytes()[:4] == b"\x7fELF":
        dst = work / "ls"
        shutil.copyfile(elf, dst)
        out.append(dst)
    return out


def _image_demo(exe: str, work: Path) -> int:
    """The lossy image codec at 0.1 bpp on one Kodak photograph (skipped when absent)."""
    corpora = Path(os.environ.get("SQUEEZE_CORPORA", REPO.parent / "shared" / "corpora"))
    src = corpora / "kodak" / "kodim23.png"
    if not src.is_file():
        return 0
    import numpy as np
    from PIL import Image

    img = work / src.name
    shutil.copyfile(src, img)
    t = time.perf_counter()
    subprocess.run([exe, "compress", "-q", "--codec", "frappe", "--bpp", "0.1", str(img)],
                   check=True)
    tc = time.perf_counter() - t
    out = work / "kodim23-decoded.png"
    t = time.perf_counter()
    subprocess.run([exe, "decompress", "-q", "-o", str(out), str(img) + ".sqz"], check=True)
    td = time.perf_counter() - t
    a = np.asarray(Image.open(img).convert("RGB"), dtype=np.float64)
    b = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / max(np.mean((a - b) ** 2), 1e-12))
    size = Path(str(img) + ".sqz").stat().st_size
    print(f"\nlossy: {src.name} ({a.shape[1]}x{a.shape[0]}) --codec frappe --bpp 0.1 -> "
          f"{size:,} bytes = {8 * size / (a.shape[0] * a.shape[1]):.4f} bpp, "
          f"PSNR {psnr:.2f} dB (comp {tc:.2f} s, dec {td:.2f} s)")
    return 0


def main() -> int:
    exe = shutil.which("squeeze", path=str(Path(sys.executable).parent)) or "squeeze"
    with tempfile.TemporaryDirectory(prefix="squeeze-demo-") as tmp:
        work = Path(tmp)
        files = _samples(work)
        print(f"{'file':<16} {'codec':<8} {'original':>11} {'.sqz':>11} {'bits/B':>7} "
              f"{'comp s':>7} {'dec s':>7}  verified")
        for f in files:
            t = time.perf_counter()
            subprocess.run([exe, "-q", "-k", str(f)], check=True)
            tc = time.perf_counter() - t
            sqz = f.with_name(f.name + ".sqz")
            out = work / (f.name + ".out")
            t = time.perf_counter()
            subprocess.run([exe, "-d", "-q", "-o", str(out), str(sqz)], check=True)
            td = time.perf_counter() - t
            same = out.read_bytes() == f.read_bytes()
            listing = subprocess.run([exe, "list", "--json", str(sqz)], check=True,
                                     capture_output=True, text=True).stdout
            import json

            codec = json.loads(listing)[0]["codec"]
            a, b = f.stat().st_size, sqz.stat().st_size
            print(f"{f.name:<16} {codec:<8} {a:>11,} {b:>11,} {8 * b / a:>7.3f} "
                  f"{tc:>7.2f} {td:>7.2f}  {'OK' if same else 'MISMATCH'}")
            if not same:
                return 1
        print("every file round-tripped bit-exactly through `squeeze` and `squeeze -d`.")
        return _image_demo(exe, work)


if __name__ == "__main__":
    sys.exit(main())
