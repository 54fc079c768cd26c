"""``squeeze tokenizer ...``: apply and export Binary BPE tokenizers.

Contributed to ``squeeze`` through ``ExeCodec.subcommands``; it also runs alone:
``python -m squeeze_binary.cli --help``.  Training a merge list is tooling, not
runtime: models/train_binary_bpe.py (train / export into the package data).

Token streams on disk are raw little-endian u16 ids (every vocabulary has at
most 65,536 tokens), or one decimal id per line with ``--text``.  Messages go to
stderr, data to stdout; failures print ``squeeze: FILE: message`` and exit 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from frappe_cli.errors import EXIT_ERROR, SqueezeError


def _fail(name: str, message: str) -> None:
    click.echo(f"squeeze: {name}: {message}", err=True)
    raise SystemExit(EXIT_ERROR)


def _run(name: str, fn, *args, **kw):
    """Call fn; turn user-facing failures into one stderr line and exit 1."""
    try:
        return fn(*args, **kw)
    except SqueezeError as exc:
        _fail(name, exc.message)
    except OSError as exc:
        _fail(exc.filename or name, exc.strerror or str(exc))
    except MemoryError:
        _fail(name, "Memory usage limit reached")
    except Exception as exc:  # pragma: no cover - a bug: no traceback unless asked
        if os.environ.get("SQUEEZE_DEBUG", "0") not in ("", "0"):
            raise
        _fail(name, f"Internal error: {type(exc).__name__}: {exc}")


def _load_model(model: str | None, vocab_size: int | None):
    from squeeze_binary.tokenizer import BinaryBPE

    if model is None:
        return BinaryBPE.shipped(vocab_size or 65536)
    return BinaryBPE.load(model, vocab_size)


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _write_output(out: str | None, data: bytes) -> None:
    if out is None or out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)


def expand_inputs(inputs) -> list[Path]:
    """Files, and every file under folders (sorted, links skipped); a missing one is
    ``squeeze: NAME: No such file or directory`` and exit 1 (models/train_binary_bpe.py
    reads its corpus through it too)."""
    files: list[Path] = []
    for i in inputs:
        p = Path(i)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.is_file() and not q.is_symlink()))
        elif p.is_file():
            files.append(p)
        else:
            _fail(str(p), "No such file or directory")
    return files


model_opt = click.option("--model", "-m", type=click.Path(dir_okay=False), default=None,
                         help="a .bpe merge list (default: the shipped binary-bpe-64k family)")
vocab_opt = click.option("--vocab-size", "-V", type=int, default=None,
                         help="cut the merge list to this vocabulary (4096, 8192, ..., 65536)")


@click.group("tokenizer")
def tokenizer():
    """Binary BPE tokenizers for executables (encode, decode, stats, export-hf)."""


@tokenizer.command()
@model_opt
@vocab_opt
@click.option("--method", type=click.Choice(["greedy", "exact"]), default="greedy",
              show_default=True, help="greedy longest match, or merge-order BPE (as HF)")
@click.option("--text", is_flag=True, help="write one decimal id per line instead of u16")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None)
@click.argument("input", default="-", type=click.Path(allow_dash=True))
def encode(model, vocab_size, method, text, output, input):
    """Tokenize INPUT (a file or -) into little-endian u16 token ids."""
    if not text and (output is None or output == "-") and sys.stdout.isatty():
        _fail(input, "refusing to write binary token ids to a terminal (use -o FILE, --text "
                     "or a redirect)")
    tok = _run(model or "model", _load_model, model, vocab_size)
    data = _run(input, _read_input, input)
    ids = _run(input, tok.encode, data, method)
    out = ("\n".join(map(str, ids.tolist())) + ("\n" if len(ids) else "")).encode() if text \
        else ids.astype("<u2").tobytes()
    _run(output or "-", _write_output, output, out)
    if len(ids):
        click.echo(f"{input}: {len(data):,} bytes -> {len(ids):,} tokens "
                   f"({len(data) / len(ids):.3f} bytes/token)", err=True)


@tokenizer.command()
@model_opt
@vocab_opt
@click.option("--text", is_flag=True, help="read decimal ids (whitespace separated)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None)
@click.argument("input", default="-", type=click.Path(allow_dash=True))
def decode(model, vocab_size, text, output, input):
    """Turn token ids (u16, or --text) back into bytes."""
    import numpy as np

    tok = _run(model or "model", _load_model, model, vocab_size)
    raw = _run(input, _read_input, input)
    if text:
        try:
            ids = np.array([int(x) for x in raw.split()], dtype=np.int64)
        except ValueError:
            _fail(input, "File format not recognized (not decimal token ids)")
    else:
        if len(raw) % 2:
            _fail(input, "Unexpected end of input (odd number of bytes for u16 ids)")
        ids = np.frombuffer(raw, dtype="<u2").astype(np.int64)
    data = _run(input, tok.decode, ids)
    _run(output or "-", _write_output, output, data)


@tokenizer.command()
@model_opt
@click.option("--vocab-size", "-V", "sizes", type=int, multiple=True,
              help="vocabulary sizes to report (default: 4K 8K 16K 32K 64K)")
@click.option("--method", type=click.Choice(["greedy", "exact"]), default="greedy",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output on stdout")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
def stats(model, sizes, method, as_json, inputs):
    """Bytes per token and encode/decode speed (CPU time) on files or folders."""
    import json

    from squeeze_binary.tokenizer import FAMILY_SIZES

    from frappe_cli.bench.timing import median_time

    files = expand_inputs(inputs)
    full = _run(model or "model", _load_model, model, None)
    sizes = [s for s in (sizes or FAMILY_SIZES) if s <= full.vocab_size]
    datas = [(str(f), _run(str(f), f.read_bytes)) for f in files]
    total = sum(len(d) for _, d in datas)
    rows = []
    for v in sizes:
        tok = full.truncate(v)
        tok.encode(b"warm-up", method)
        tok.decode([1])
        n_tok = 0
        t_enc = t_dec = 0.0
        for name, d in datas:
            te, ids = median_time(lambda: tok.encode(d, method))  # noqa: B023 (called at once)
            td, back = median_time(lambda: tok.decode(ids))  # noqa: B023
            if back != d:
                _fail(name, f"Internal error: {v}-token round trip differs")
            n_tok += len(ids)
            t_enc += te
            t_dec += td
        rows.append({"vocab_size": v, "bytes": total, "tokens": n_tok,
                     "bytes_per_token": total / max(n_tok, 1),
                     "encode_MBps": total / 1e6 / max(t_enc, 1e-9),
                     "decode_MBps": total / 1e6 / max(t_dec, 1e-9)})
    if as_json:
        click.echo(json.dumps({"files": len(datas), "method": method, "rows": rows}, indent=1))
        return
    click.echo(f"{len(datas)} files, {total:,} bytes, {method} encoder (CPU time)", err=True)
    for r in rows:
        click.echo(f"  {r['vocab_size']:>6}: {r['bytes_per_token']:.3f} bytes/token, "
                   f"encode {r['encode_MBps']:.1f} MB/s, decode {r['decode_MBps']:.1f} MB/s",
                   err=True)


@tokenizer.command("export-hf")
@model_opt
@click.option("--vocab-size", "-V", "sizes", type=int, multiple=True,
              help="sizes to export (default: 4K 8K 16K 32K 64K)")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="folder for tokenizer-<size>.json files")
def export_hf(model, sizes, output):
    """Write Hugging Face tokenizers JSON files (one per vocabulary size)."""
    from squeeze_binary.tokenizer import FAMILY_SIZES

    full = _run(model or "model", _load_model, model, None)
    sizes = [s for s in (sizes or FAMILY_SIZES) if s <= full.vocab_size]
    _run(output, os.makedirs, output, exist_ok=True)
    for v in sizes:
        path = os.path.join(output, f"tokenizer-{v}.json")
        _run(path, _write_output, path, full.truncate(v).to_hf_json().encode())
        click.echo(f"wrote {path}", err=True)


def main() -> None:  # pragma: no cover
    try:
        tokenizer.main(standalone_mode=False, prog_name="squeeze tokenizer")
    except click.exceptions.UsageError as exc:
        click.echo(f"squeeze: {exc.format_message()}", err=True)
        raise SystemExit(EXIT_ERROR) from None
    except click.exceptions.Abort:
        raise SystemExit(EXIT_ERROR) from None


if __name__ == "__main__":  # pragma: no cover
    main()
