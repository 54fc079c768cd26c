"""The text suite, ``squeeze bench --suite text``: the text codec against the usual
compressors (the numbers in docs/bench-text.md).

The harness's side-by-side table (whole .sqz files, CPU time, medians, every
output decoded and compared) with the text defaults: Canterbury and the first
10^6 / 3*10^6 bytes of ``enwik8-prefix/enwik8.head4m`` when no PATHS are given,
``--codec text:6`` and peers xz -9e, bzip2 -9, zstd -19 and PPMd8 o8.  lpaq1 is
not installed here: its sizes, measured earlier on this machine
(../shared/reference/text.md, section 4), stand in the table as reference rows
``lpaq1-6-ref`` (sizes only, nothing run).
"""

from __future__ import annotations

from frappe_cli.bench import runner
from frappe_cli.bench.suite import Args, Report, Suite

from benchmarks.suites import corpora

CANTERBURY = ["alice29.txt", "asyoulik.txt", "cp.html", "fields.c", "grammar.lsp",
              "kennedy.xls", "lcet10.txt", "plrabn12.txt", "ptt5", "sum", "xargs.1"]
ENWIK = "enwik8-prefix/enwik8.head4m"
#: the inputs' labels in the table (runner.load_input): e1m, e3m are enwik8 prefixes
E1M, E3M = "enwik8.head4m@1000000", "enwik8.head4m@3000000"
# lpaq1 -6 compressed sizes measured on this machine (../shared/reference/text.md, section 4)
LPAQ1 = {
    "alice29.txt": 37206, "asyoulik.txt": 34373, "cp.html": 6418, "fields.c": 2554,
    "grammar.lsp": 1068, "kennedy.xls": 37943, "lcet10.txt": 89842, "plrabn12.txt": 126910,
    "ptt5": 43690, "sum": 10614, "xargs.1": 1514, E1M: 227026, E3M: 662271,
}
REFERENCE = "lpaq1-6-ref"


class TextSuite(Suite):
    name = "text"
    description = "the text codec vs xz, bzip2, zstd, PPMd (and lpaq1's recorded sizes)"
    default_codecs = ("text:6",)
    default_peers = ("xz-9e", "bzip2-9", "zstd-19", "ppmd8-o8")

    def inputs(self, args: Args) -> list[str]:
        root = corpora()
        files = [str(root / "canterbury" / n) for n in CANTERBURY]
        files += [f"{root / ENWIK}@1000000", f"{root / ENWIK}@3000000"]
        return [f for f in files if (root / "canterbury").is_dir()]

    def run(self, args: Args) -> Report:
        report = super().run(args)
        seen: dict[str, int] = {}
        for r in report.results:
            seen.setdefault(r.file, r.usize)
        report.results += [runner.Result(label, REFERENCE, usize, LPAQ1[label], None, None, True,
                                         "reference size, not run")
                           for label, usize in seen.items() if label in LPAQ1]
        report.meta["reference"] = (f"{REFERENCE}: lpaq1 -6 sizes recorded in "
                                    "../shared/reference/text.md section 4 (not run)")
        return report


TEXT = TextSuite()
