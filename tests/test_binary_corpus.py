"""The executable corpus definition (corpora/binaries): pinned, disjoint, recorded."""

import importlib.util
import json
import re
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "corpora" / "binaries"


@pytest.fixture(scope="module")
def bc():
    spec = importlib.util.spec_from_file_location("build_corpus", ROOT / "build_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_package_list_is_pinned_and_disjoint(bc):
    rows = bc.read_packages()
    assert rows
    for r in rows:
        assert r["set"] in ("train", "heldout")
        assert r["arch"] in bc.ARCHS + ["all"]
        assert re.fullmatch(r"[0-9]+:?[0-9A-Za-z.+~:-]*", r["version"]), r
    train = {r["package"] for r in rows if r["set"] == "train"}
    held = {r["package"] for r in rows if r["set"] == "heldout"}
    assert held and not (held & train)


def test_manifest_matches_package_list(bc):
    man = json.loads((ROOT / "manifest.json").read_text())
    rows = bc.read_packages()
    assert {(d["package"], d["arch"], d["version"]) for d in man["debs"]} == \
        {(r["package"], r["arch"], r["version"]) for r in rows}
    for d in man["debs"]:
        assert re.fullmatch(r"[0-9a-f]{64}", d["sha256"]) and d["licence"]
    shas = [f["sha256"] for f in man["files"]]
    assert len(shas) == len(set(shas)), "files are deduplicated"
    for s in ("train", "heldout"):
        files = [f for f in man["files"] if f["set"] == s]
        assert man["totals"][s] == {"files": len(files), "bytes": sum(f["size"] for f in files)}
        assert all(bc.MIN_FILE <= f["size"] <= bc.MAX_FILE for f in files)
    assert all(f["kind"] == "elf-x86-64" for f in man["files"] if f["set"] == "heldout")
    kinds = {f["kind"] for f in man["files"] if f["set"] == "train"}
    assert {"elf-x86-64", "elf-aarch64", "pe-i386", "pe-x86-64"} <= kinds
    assert man["totals"]["train"]["bytes"] > 90e6 and man["totals"]["heldout"]["bytes"] > 18e6


def test_exe_kind(bc, tmp_path):
    elf = tmp_path / "e"
    elf.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + struct.pack("<H", 62) + bytes(100))
    assert bc.exe_kind(elf) == "elf-x86-64"
    pe = tmp_path / "p"
    pe.write_bytes(b"MZ" + bytes(58) + struct.pack("<I", 64) + b"PE\0\0" + struct.pack("<H", 0x14C)
                   + bytes(100))
    assert bc.exe_kind(pe) == "pe-i386"
    other = tmp_path / "o"
    other.write_bytes(b"MZ" + bytes(200))
    assert bc.exe_kind(other) is None
