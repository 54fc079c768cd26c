"""Levels of the executable codec: which contexts, how much memory, which block size.

Pure data (no numpy): ``memory_usage`` must stay cheap.  Every entry is part of
the bitstream (exe bitstream version 1): change one and bump
``ExeCodec.bitstream_version``.  The context names are the catalogue of
``exe_kernels.py``; SPEC.md section 5 defines each one.
"""

from __future__ import annotations

from frappe_cli.coding.cm import config

HASHED = {
    "o1": 0, "o2": 1, "o3": 2, "o4": 3, "o5": 4, "o6": 5, "o8": 6, "o12": 7,
    "sp2": 8, "sp3": 9, "sp4": 10, "sp23": 11, "sp13": 12, "sp24": 13, "sp34": 14, "sp8": 15,
    "w4": 16, "w4b": 17, "w8": 18, "rec1": 19, "rec2": 20,
    "xa": 21, "xb": 22, "xc": 23, "xd": 24, "xe": 25, "xf": 26,
    "lo2": 27, "lo3": 28, "word": 29, "tok": 30, "tokc": 31, "tokp": 32, "xg": 33, "xh": 34,
}
DIRECT = {"o0": (0, 1), "o1": (1, 256), "o2": (2, 65536), "lo1": (3, 9 * 256),
          "xs": (4, 1 << 16), "a4": (5, 1024), "xo1": (6, 1 << 16)}
SELECT = {"none": (0, 1), "c1": (1, 256), "lab": (2, 9), "xph": (3, 16), "labxph": (4, 144),
          "op": (5, 1024), "tokl": (6, 64), "a4": (7, 36), "c2": (8, 256)}
APMCTX = {"c0": (0, 1), "c1": (1, 256), "c2h": (2, 1024), "xs": (3, 4096), "lo1": (4, 9 * 256)}

CATALOGUE = config.Catalogue(HASHED, DIRECT, SELECT, APMCTX)


def make_level(hashed, direct, mixers, final, apms, hash_bits, match_bits, block_mib,
               vocab=0, match_min=7, **rates) -> dict:
    """A level entry from context names (also used by benchmarks for ablations);
    ``vocab``: how many Binary BPE tokens the token contexts use."""
    lv = config.level(CATALOGUE, hashed, direct, mixers, final, apms, hash_bits, match_bits,
                      block_mib, match_min=match_min, **rates)
    lv["vocab"] = vocab
    return lv


_F = ("none", "c0")
_TOK = ["tok", "tokc"]

# level 0-2: few contexts, one or two mixers (speed); 6: the daily default;
# 7-9: more order-n, sparse, x86 and token contexts, more mixers, two SSE stages
_H0 = ["o2", "o3", "o4", "xa"]
_H1 = ["o2", "o3", "o4", "o6", "xa", "xc"]
_H3 = ["o2", "o3", "o4", "o6", "xa", "xc", "sp23", "rec1"]
_H6 = ["o2", "o3", "o4", "o6", "xa", "xc", "sp23", "w4", "rec1"]
_H7 = _H6 + ["o5", "xd", "sp13"] + _TOK
_H8 = _H6 + ["o1", "o5", "o8", "xb", "xd", "xf", "sp2", "sp13", "rec2", "lo3", "word",
             "xh"] + _TOK
_H9 = _H8 + ["o12", "xg", "sp34", "w8", "tokp"]
_D0 = ["o0", "o1", "xs"]
_D6 = ["o0", "o1", "lo1", "xs"]
_D8 = _D6 + ["o2", "xo1"]
_M1 = [("none", "match"), ("labxph", "c0")]
_M6 = [("none", "match"), ("labxph", "c0"), ("c1", "none"), ("op", "bitpos")]
_M7 = _M6 + [("tokl", "none")]
_M8 = _M7 + [("a4", "none"), ("c2", "none")]

# learning rates screened on held-out ELF: lr 1000 with a lower initial weight helps
# small files (a 15 KB library is coded before the weights settle)
_R = {"lr": 1000, "w_init": 3000, "final_lr": 200, "apm_rate": 5}

LEVELS = {
    0: make_level(_H0, _D0, [("labxph", "c0")], ("none", "none"), [], 20, 20, 64,
                  extra_inputs=0, run=0),
    1: make_level(_H1, _D0, _M1, _F, [], 21, 20, 64, extra_inputs=0, run=0),
    2: make_level(_H1, _D6, _M1, _F, [], 21, 21, 64, run=0),
    3: make_level(_H3, _D6, _M1, _F, [("c1", 8)], 21, 21, 64),
    4: make_level(_H3, _D6, _M6[:3], _F, [("c1", 8)], 22, 22, 64, match_min=5, **_R),
    5: make_level(_H6, _D6, _M6[:3], _F, [("c1", 8)], 22, 22, 64, match_min=5, **_R),
    6: make_level(_H6 + ["tok"], _D6, _M6[:3], _F, [("c1", 8)], 22, 22, 64, vocab=4096,
                  match_min=5, **_R),
    7: make_level(_H7, _D6, _M7, _F, [("c1", 8)], 22, 22, 64, vocab=16384, match_min=5, **_R),
    8: make_level(_H8, _D8, _M8, ("labxph", "none"), [("c1", 4), ("xs", 4)], 22, 22, 64,
                  vocab=65536),
    9: make_level(_H9, _D8, _M8, ("labxph", "none"), [("c1", 4), ("xs", 4)], 23, 22, 64,
                  vocab=65536),
}


TOKEN_CONTEXTS = ("tok", "tokc", "tokp")


def without_tokens(lv: dict) -> dict:
    """``lv`` with its Binary BPE token contexts and token mixer removed (ablation)."""
    n = lv["names"]
    cm = lv["cm"]
    rates = {k: v for k, v in cm.items() if k not in (
        "hashed", "hash_bits", "direct", "mixers", "final", "apms", "match_bits", "match_min")}
    return make_level([h for h in n["hashed"] if h not in TOKEN_CONTEXTS], n["direct"],
                      [m for m in n["mixers"] if m[0] != "tokl"], n["final"], n["apms"],
                      cm["hash_bits"], cm["match_bits"], lv["block_mib"], vocab=0,
                      match_min=cm["match_min"], **rates)
