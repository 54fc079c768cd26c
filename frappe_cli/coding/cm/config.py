"""Levels of a CM configuration (pure Python: no numpy, cheap to import).

A configuration (the text codec, the executable codec) names its contexts in a
*catalogue*: four tables from a context's name to ``(id, size)``, the id being
what its kernel's if-chains test and the size the rows (direct contexts, APMs)
or sets (mixer selectors) the engine allocates for it (hashed contexts: only
the id).  The catalogue is the codec's bitstream definition and stays with it;
this module turns a level written with those names into the dict every other
part uses (``level``), sizes a level's tables for one block (``block_spec``) and
reports its memory (``memory_usage``).

A level dict holds:

* ``hashed``/``direct``/``mixers``/``apms``: lists of catalogue ids, ``final``
  one id (``runtime.ids`` turns them into the kernel's arrays);
* ``block_mib``: the block size the level cuts;
* ``names``: the names it was built from (ablations rebuild a level from them);
* ``cm``: the engine spec (``spec.normalize``) at full table size;
* whatever the codec adds (the executable codec's token ``vocab``).
"""

from __future__ import annotations

from typing import NamedTuple

from frappe_cli.coding.cm import spec as cmspec

_K = cmspec.SEL_NAMES


class Catalogue(NamedTuple):
    """A configuration's context names (SPEC.md of its codec defines each one)."""

    hashed: dict[str, int]  # name -> id
    direct: dict[str, tuple[int, int]]  # name -> (id, rows)
    select: dict[str, tuple[int, int]]  # name -> (id, sets): layer-1 and final selectors
    apm: dict[str, tuple[int, int]]  # name -> (id, rows)


def level(cat: Catalogue, hashed, direct, mixers, final, apms, hash_bits: int,
          match_bits: int, block_mib: int, **rates) -> dict:
    """A level from context names.

    ``mixers`` and ``final`` are ``(selector name, bit-level kind name)`` pairs
    (kinds: ``spec.SEL_NAMES``), ``apms`` ``(APM context name, weight)`` pairs;
    ``rates`` are further engine spec keys (``match_min``, ``lr``, ``run`` ...).
    """
    return {
        "hashed": [cat.hashed[h] for h in hashed],
        "direct": [cat.direct[d][0] for d in direct],
        "mixers": [cat.select[s][0] for s, _ in mixers],
        "final": cat.select[final[0]][0],
        "apms": [cat.apm[a][0] for a, _ in apms],
        "block_mib": block_mib,
        "names": {"hashed": list(hashed), "direct": list(direct), "mixers": list(mixers),
                  "final": final, "apms": list(apms)},
        "cm": {
            "hashed": len(hashed),
            "hash_bits": hash_bits,
            "direct": [cat.direct[d][1] for d in direct],
            "mixers": [(cat.select[s][1], _K[kind]) for s, kind in mixers],
            "final": (cat.select[final[0]][1], _K[final[1]]),
            "apms": [(cat.apm[a][1], wt) for a, wt in apms],
            "match_bits": match_bits,
            **rates,
        },
    }


def block_spec(spec: dict, n: int) -> dict:
    """``spec`` (a level's ``cm``) with its tables sized for an ``n``-byte block.

    Hash tables never exceed about one 3-slot line per (byte, context) pair and
    the match table two entries per byte, so small blocks start fast and stay
    small; the decoder derives the same sizes from the block's stored size.
    Part of every CM codec's bitstream.
    """
    spec = dict(spec)
    need = max(n * max(spec["hashed"], 1), 1)
    spec["hash_bits"] = min(spec["hash_bits"], max(12, need.bit_length()))
    if spec["match_bits"]:
        spec["match_bits"] = min(spec["match_bits"], max(10, (2 * n).bit_length()))
    return spec


def memory_usage(lv: dict, buffers: int) -> int:
    """Bytes to code one block of level ``lv`` besides the block itself (``-M``).

    The model at full table size plus ``buffers`` block-sized arrays of the
    block coder (a writable copy of the block, the coder's output, a label array...)
    and the output's slack of 1/8 block.
    """
    block = lv["block_mib"] << 20
    return cmspec.memory(lv["cm"]) + buffers * block + (block >> 3)
