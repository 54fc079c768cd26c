"""docs/ARCHITECTURE.md's import rules, checked on the tree."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODECS = sorted(p.name for p in (ROOT / "codecs").iterdir()
                if p.is_dir() and (p / "__init__.py").exists())

#: the places that still name a codec package (docs/ARCHITECTURE.md, "still breaks")
KNOWN_EXCEPTIONS: set[str] = set()


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return out


def test_core_names_no_codec():
    offenders = {}
    for path in sorted((ROOT / "frappe_cli").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "frappe_cli/registry.py":
            continue  # the table of built-ins (strings, imported on first use)
        bad = {m for m in imported_modules(path) if m.split(".")[0] in CODECS}
        if bad:
            offenders[rel] = sorted(bad)
    assert set(offenders) <= KNOWN_EXCEPTIONS, offenders
    # an exception that was fixed leaves the list
    assert set(offenders) == KNOWN_EXCEPTIONS, sorted(KNOWN_EXCEPTIONS - set(offenders))


def test_codec_packages_do_not_import_each_other():
    for pkg in CODECS:
        for path in sorted((ROOT / "codecs" / pkg).rglob("*.py")):
            others = {m.split(".")[0] for m in imported_modules(path)} & (set(CODECS) - {pkg})
            assert not others, f"{path.relative_to(ROOT)} imports {sorted(others)}"


def test_runtime_packages_hold_no_training_code():
    for path in (ROOT / "frappe_cli").rglob("*.py"):
        assert "torch" not in {m.split(".")[0] for m in imported_modules(path)} or \
            path.name in ("safetensors_io.py",), path
    assert not list((ROOT / "codecs").rglob("train_*.py"))
    assert not list((ROOT / "codecs").rglob("fit*.py")), "model fitting is tooling (models/)"
    # trainers live in models/ (models/train_*.py), not in a codec package
    for path in sorted((ROOT / "codecs").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        trainers = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)
                    and n.name.startswith("train")]
        assert not trainers, f"{path.relative_to(ROOT)} defines {trainers}"


def test_runtime_packages_hold_no_bench_code():
    """Bench suites live in benchmarks/suites (registered as squeeze.bench_suites entry
    points), not in the runtime packages the wheel ships."""
    bench = [p.relative_to(ROOT).as_posix() for p in (ROOT / "codecs").rglob("*.py")
             if "bench" in p.stem]
    assert not bench, bench


def test_bench_harness_names_no_codec():
    """frappe_cli/bench is the one harness of ``squeeze bench``: it imports no codec
    package and names none, not even in a string (suites arrive through entry points)."""
    for path in sorted((ROOT / "frappe_cli" / "bench").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        assert not {m for m in imported_modules(path) if m.startswith("squeeze_")}, rel
        assert not {m for m in imported_modules(path) if m.split(".")[0] == "benchmarks"}, rel
        text = path.read_text()
        assert not [pkg for pkg in CODECS if pkg in text], rel
