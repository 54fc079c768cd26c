"""The options of a ``squeeze`` run: the ``Opts`` dataclass, how click's keyword
arguments become one, and the checks made before any file is touched (usage,
codec options).  Only click and the standard library; the registry is asked when
codec options are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

from frappe_cli.errors import OptionError

DEFAULT_SUFFIX = ".sqz"


@dataclass
class Opts:
    mode: str = "compress"  # compress, decompress, test, list
    stdout: bool = False
    output: str | None = None
    force: bool = False
    rm: bool = False
    suffix: str = DEFAULT_SUFFIX
    level: int | None = None
    threads: int = 1
    verbose: int = 0
    quiet: int = 0
    codec: str = "auto"
    json: bool = False
    progress: bool = True
    memlimit: int | None = None
    block_size: int | None = None
    check: str = "xxh64"
    recursive: bool = False
    scheduler: str | None = None  # --scheduler: blocks coded on a Dask cluster
    params: dict = field(default_factory=dict)


#: decoding without -M refuses streams whose blocks are larger than this (zstd
#: refuses windows over 128 MiB unless told); squeeze's encoders cut at most 64 MiB
DEFAULT_DECODE_BLOCK_LIMIT = 256 << 20


def decode_limits(opts: Opts) -> dict:
    """The memory guards of a decode: -M SIZE, -M 0 (none) or the default."""
    if opts.memlimit is None:
        return {"memlimit": None, "max_block": DEFAULT_DECODE_BLOCK_LIMIT}
    if opts.memlimit == 0:
        return {"memlimit": None, "max_block": None}
    return {"memlimit": opts.memlimit, "max_block": None}


def parse_params(values: tuple[str, ...], **named) -> dict:
    """Codec parameters from ``-O KEY=VALUE`` items and the named codec options."""
    params: dict[str, Any] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got '{item}'", param_hint="-O")
        params[key.strip().replace("-", "_")] = _coerce(val.strip())
    for k, v in named.items():
        if v is not None:
            params[k] = v
    return params


def _coerce(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def codec_option_specs() -> dict[str, dict]:
    """The named options codecs contribute (``Codec.cli_options``), by parameter."""
    from frappe_cli import registry

    specs: dict[str, dict] = {}
    for cid in registry.available_ids():
        for spec in registry.get_class(cid).cli_options:
            specs.setdefault(spec["param"], spec)
    return specs


def opts_from(mode: str, kw: dict) -> Opts:
    """The options of a run from the keyword arguments of a click command."""
    params = parse_params(kw.pop("options", ()),
                          **{p: kw.pop(p, None) for p in codec_option_specs()})
    kw.pop("keep")
    return Opts(
        mode=mode,
        stdout=kw.pop("to_stdout"),
        output=kw.pop("output"),
        force=kw.pop("force"),
        rm=kw.pop("rm"),
        suffix=kw.pop("suffix"),
        level=kw.pop("level", None),
        threads=kw.pop("threads"),
        verbose=kw.pop("verbose"),
        quiet=kw.pop("quiet"),
        codec=kw.pop("codec", "auto"),
        json=kw.pop("as_json"),
        progress=not kw.pop("no_progress"),
        memlimit=kw.pop("memlimit"),
        block_size=kw.pop("block_size", None),
        check=kw.pop("check", "xxh64"),
        recursive=kw.pop("recursive"),
        scheduler=kw.pop("scheduler") or None,
        params=params,
    )


def check_usage(opts: Opts, files: tuple[str, ...]) -> None:
    """Refuse option combinations that cannot work, before any file is touched."""
    if opts.output and len(files) > 1:
        raise click.UsageError("-o/--output takes a single input file")
    if opts.output and opts.stdout:
        raise click.UsageError("-o/--output and -c/--stdout exclude each other")
    if opts.rm and (opts.stdout or not files or "-" in files):
        raise click.UsageError("--rm needs file arguments and cannot be used with -c/--stdout")
    if not opts.suffix or "/" in opts.suffix:
        raise click.UsageError("invalid suffix for -S/--suffix")
    if opts.mode in ("decompress", "test", "list") and opts.params:
        raise click.UsageError("codec options apply to compression only")
    if opts.recursive and opts.output:
        raise click.UsageError("-o/--output cannot be used with -r/--recursive")
    if (files or ("-",)).count("-") > 1:
        raise click.UsageError("standard input can be named only once")


def option_owners(param: str) -> list[str]:
    """The installed codecs that take codec parameter ``param``, in registry order."""
    from frappe_cli import registry

    return [cid for cid in registry.available_ids() if param in registry.get_class(cid).options]


def misplaced_option(param: str, chosen: str = "auto") -> OptionError:
    """The error for a codec parameter the codec in use does not take: it names the
    codec(s) that do (``--bpp is an option of codec frappe; add --codec frappe``),
    never only the codec the user did not choose."""
    owners = option_owners(param)
    flag = codec_option_specs().get(param, {}).get("flag", f"-O {param}=...")
    if not owners:
        return OptionError(f"no codec takes the option '{param}'")
    which = (f"codec {owners[0]}" if len(owners) == 1 else
             f"codecs {', '.join(owners[:-1])} and {owners[-1]}")
    if chosen == "auto":
        return OptionError(f"{flag} is an option of {which}; add --codec {owners[0]}")
    return OptionError(f"{flag} is an option of {which}, not of {chosen}; "
                       f"use --codec {owners[0]}")


def check_codec_params(opts: Opts) -> None:
    """Compression: refuse, once and before any file, codec parameters that the
    codec named by ``--codec`` does not take, or that ``--codec auto`` can never
    use (only a lossy codec, or no codec, takes them).  A parameter of a lossless
    codec under ``auto`` is checked per file, once auto has chosen."""
    if not opts.params:
        return
    from frappe_cli import registry
    from frappe_cli.errors import UnsupportedError

    if opts.codec != "auto":
        try:
            cls = registry.get_class(opts.codec)
        except UnsupportedError:
            return  # an unknown codec is reported per file, as without options
        for param in opts.params:
            if param not in cls.options and option_owners(param):
                raise misplaced_option(param, opts.codec)
        return
    for param in opts.params:
        if not any(registry.get_class(cid).lossless for cid in option_owners(param)):
            raise misplaced_option(param)
