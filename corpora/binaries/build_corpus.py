#!/usr/bin/env python3
"""Rebuild the executable corpus (Binary BPE training set + held-out ELF set).

The corpus is made of real executables from a pinned list of Debian 12
("bookworm", main) packages (``packages.tsv`` beside this script): ELF for
x86-64 and other architectures, PE files (Windows DLLs/EXEs from Wine, MinGW,
NSIS; EFI applications), and a disjoint held-out set of x86-64 ELF.

    python corpora/binaries/build_corpus.py [OUT]  # default: $SQUEEZE_BINCORPUS or /work/bincorpus
    python corpora/binaries/build_corpus.py --check    # only verify OUT against manifest.json
    python corpora/binaries/build_corpus.py --update-manifest   # maintainers: re-pin manifest.json

Steps: a private apt configuration under OUT/apt (the system's apt state is not
touched) fetches the multi-architecture package indices (``apt-get update``),
``apt-get download pkg:arch=version`` fetches each pinned .deb into OUT/debs,
``dpkg-deb -x`` unpacks it into OUT/extract, and every regular file that is an
ELF or PE image (4 KiB .. 16 MiB) and matches the package's include globs is
selected.  Selection inside a package is deterministic: files sorted by the
sha256 of their path, taken until the package's byte budget.  Files are
deduplicated by content (first occurrence wins; the held-out set drops any file
also in the training set).  Selected files are hard-linked into
OUT/train/<arch>/<package>/<path with / replaced by __> and OUT/heldout/... .

``manifest.json`` (committed) records every .deb (sha256, size, licence from its
DEP-5 copyright file) and every selected file (sha256, size, set, kind).  A
rebuild verifies both; any mismatch is an error.  When a pinned version has left
the Debian mirror, point ``--mirror`` at a snapshot archive of bookworm.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = HERE / "packages.tsv"
MANIFEST = HERE / "manifest.json"
ARCHS = ["amd64", "i386", "arm64", "armhf", "mips64el", "ppc64el", "s390x"]
MIN_FILE = 4096
MAX_FILE = 16 << 20
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_packages() -> list[dict]:
    rows = []
    for line in PACKAGES.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) != 6:
            raise SystemExit(f"packages.tsv: bad line {line!r}")
        rows.append({"set": f[0], "package": f[1], "arch": f[2], "version": f[3],
                     "include": f[4].split(","), "budget": int(f[5])})
    # the held-out packages must not be used for training on any architecture
    train = {r["package"] for r in rows if r["set"] == "train"}
    clash = sorted({r["package"] for r in rows if r["set"] == "heldout"} & train)
    if clash:
        raise SystemExit(f"packages.tsv: held-out packages also in training: {clash}")
    return rows


def apt_options(out: Path) -> list[str]:
    a = out / "apt"
    return [
        "-o", f"Dir::Etc::SourceList={a / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={a / 'lists'}",
        "-o", f"Dir::State::Status={a / 'status'}",
        "-o", f"Dir::Cache={a / 'cache'}",
        "-o", "APT::Architecture=amd64",
        "-o", "APT::Architectures=" + ",".join(ARCHS),
        "-o", "Debug::NoLocking=1",
    ]


def apt_setup(out: Path, mirror: str, update: bool) -> None:
    a = out / "apt"
    for d in (a / "lists" / "partial", a / "cache" / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    (a / "status").touch()
    src = (f"deb [arch={','.join(ARCHS)} signed-by={KEYRING}] {mirror} bookworm main\n")
    changed = not (a / "sources.list").is_file() or (a / "sources.list").read_text() != src
    (a / "sources.list").write_text(src)
    if update or changed or not any((a / "lists").glob("*Packages*")):
        log("apt-get update (private lists under OUT/apt)")
        subprocess.run(["apt-get", *apt_options(out), "-q", "update"], check=True,
                       stdout=subprocess.DEVNULL)


def deb_name(row: dict) -> str:
    ver = row["version"].replace(":", "%3a")  # apt's file name quoting of an epoch
    return f"{row['package']}_{ver}_{row['arch']}.deb"


def download(out: Path, row: dict) -> Path:
    debs = out / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    path = debs / deb_name(row)
    if not path.is_file():
        spec = row["package"] + ("" if row["arch"] == "all" else f":{row['arch']}")
        spec += f"={row['version']}"
        log(f"download {spec}")
        subprocess.run(["apt-get", *apt_options(out), "-q", "download", spec], cwd=debs,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not path.is_file():
        raise SystemExit(f"apt-get download did not produce {path}")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()


def exe_kind(path: Path) -> str | None:
    """'elf-<machine>' / 'pe-<machine>' for ELF and PE images, else None."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        little = head[5] == 1
        machine = struct.unpack("<H" if little else ">H", head[18:20])[0]
        names = {3: "i386", 62: "x86-64", 183: "aarch64", 40: "arm", 8: "mips", 21: "ppc64",
                 22: "s390", 243: "riscv"}
        return "elf-" + names.get(machine, str(machine))
    if head[:2] == b"MZ" and len(head) >= 64:
        off = struct.unpack("<I", head[60:64])[0]
        with open(path, "rb") as f:
            f.seek(off)
            pe = f.read(6)
        if len(pe) == 6 and pe[:4] == b"PE\0\0":
            machine = struct.unpack("<H", pe[4:6])[0]
            names = {0x14C: "i386", 0x8664: "x86-64", 0xAA64: "arm64", 0x1C4: "arm"}
            return "pe-" + names.get(machine, hex(machine))
    return None


def licence_of(root: Path, package: str) -> str:
    """Licence names from the package's machine-readable copyright file."""
    cand = root / "usr" / "share" / "doc" / package / "copyright"
    if not cand.is_file():
        found = sorted(root.glob("usr/share/doc/*/copyright"))
        if not found:
            return "see the package's copyright file (not shipped in this .deb)"
        cand = found[0]
    text = cand.read_text(errors="replace")
    names = []
    for line in text.splitlines():
        if line.startswith("License:"):
            name = line[len("License:"):].strip()
            if name and name not in names:
                names.append(name)
    if not names:
        return f"see /usr/share/doc/{package}/copyright (not machine-readable)"
    return "; ".join(names)


def select_files(root: Path, row: dict) -> list[tuple[str, Path, str]]:
    """(path inside the package, file, kind) for the package's selected executables."""
    cands = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            rel = "/" + str(p.relative_to(root))
            if not any(fnmatch.fnmatch(rel, g) for g in row["include"]):
                continue
            size = p.stat().st_size
            if not MIN_FILE <= size <= MAX_FILE:
                continue
            kind = exe_kind(p)
            if kind is None:
                continue
            cands.append((rel, p, kind))
    cands.sort(key=lambda c: hashlib.sha256(c[0].encode()).hexdigest())
    if row["budget"] <= 0:
        return cands
    taken, total = [], 0
    for c in cands:
        size = c[1].stat().st_size
        if total + size > row["budget"]:
            continue
        taken.append(c)
        total += size
    return taken


def build(out: Path, mirror: str, update_manifest: bool, refresh_lists: bool) -> None:
    rows = read_packages()
    old = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else None
    if old is None and not update_manifest:
        raise SystemExit("manifest.json missing: run with --update-manifest to create it")
    apt_setup(out, mirror, refresh_lists)
    for s in ("train", "heldout"):
        if (out / s).exists():
            shutil.rmtree(out / s)
    seen: dict[str, str] = {}
    debs, files = [], []
    # training packages first, so a file in both sets stays in training only
    for row in sorted(rows, key=lambda r: r["set"] != "train"):
        deb = download(out, row)
        ex = out / "extract" / f"{row['package']}_{row['arch']}"
        if ex.exists():
            shutil.rmtree(ex)
        ex.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(ex)], check=True)
        debs.append({"package": row["package"], "arch": row["arch"], "version": row["version"],
                     "set": row["set"], "deb": deb.name, "sha256": sha256_file(deb),
                     "size": deb.stat().st_size, "licence": licence_of(ex, row["package"])})
        n = nbytes = 0
        for rel, p, kind in select_files(ex, row):
            digest = sha256_file(p)
            if digest in seen:
                continue
            seen[digest] = rel
            flat = rel.strip("/").replace("/", "__")
            dest = out / row["set"] / row["arch"] / row["package"] / flat
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, dest)
            size = p.stat().st_size
            files.append({"set": row["set"], "file": str(dest.relative_to(out)), "kind": kind,
                          "size": size, "sha256": digest})
            n += 1
            nbytes += size
        log(f"{row['set']:8s} {row['package']}:{row['arch']}: {n} files, {nbytes / 1e6:.2f} MB")
    manifest = {"about": "Executables selected by corpora/binaries/build_corpus.py from the "
                         "pinned Debian bookworm packages in packages.tsv; the files themselves "
                         "are never committed.",
                "debs": debs, "files": files,
                "totals": {s: {"files": sum(1 for f in files if f["set"] == s),
                               "bytes": sum(f["size"] for f in files if f["set"] == s)}
                           for s in ("train", "heldout")}}
    if update_manifest:
        MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
        log(f"wrote {MANIFEST}")
    else:
        compare(old, manifest)
    for s, t in manifest["totals"].items():
        log(f"{s}: {t['files']} files, {t['bytes'] / 1e6:.2f} MB in {out / s}")


def compare(old: dict, new: dict) -> None:
    bad = []
    od = {(d["package"], d["arch"]): d for d in old["debs"]}
    for d in new["debs"]:
        o = od.get((d["package"], d["arch"]))
        if o is None or o["sha256"] != d["sha256"]:
            bad.append(f"deb {d['deb']}: sha256 differs from manifest")
    of = {f["file"]: f for f in old["files"]}
    nf = {f["file"]: f for f in new["files"]}
    for name in sorted(set(of) | set(nf)):
        if name not in nf:
            bad.append(f"{name}: missing")
        elif name not in of:
            bad.append(f"{name}: not in manifest")
        elif of[name]["sha256"] != nf[name]["sha256"]:
            bad.append(f"{name}: sha256 differs")
    if bad:
        for b in bad[:20]:
            log("MISMATCH " + b)
        raise SystemExit(f"{len(bad)} mismatches against {MANIFEST}")
    log("all files match manifest.json")


def check(out: Path) -> None:
    man = json.loads(MANIFEST.read_text())
    bad = 0
    for f in man["files"]:
        p = out / f["file"]
        if not p.is_file() or p.stat().st_size != f["size"] or sha256_file(p) != f["sha256"]:
            log(f"MISMATCH {f['file']}")
            bad += 1
    if bad:
        raise SystemExit(f"{bad} files missing or different under {out}")
    log(f"{len(man['files'])} files verified under {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=os.environ.get("SQUEEZE_BINCORPUS",
                                                             "/work/bincorpus"))
    ap.add_argument("--mirror", default="http://deb.debian.org/debian")
    ap.add_argument("--check", action="store_true", help="only verify OUT against the manifest")
    ap.add_argument("--update-manifest", action="store_true",
                    help="write manifest.json from this build instead of verifying against it")
    ap.add_argument("--refresh-lists", action="store_true", help="re-run apt-get update")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    if a.check:
        check(out)
    else:
        build(out, a.mirror, a.update_manifest, a.refresh_lists)


if __name__ == "__main__":
    main()
