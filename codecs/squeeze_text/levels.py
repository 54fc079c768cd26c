"""Levels of the text codec: which contexts, how much memory, which block size.

Pure data (no numpy): ``memory_usage`` must stay cheap.  Every entry is part of
the bitstream (bitstream version 1): change one and bump ``TextCodec.bitstream_version``.
"""

from __future__ import annotations

from frappe_cli.coding.cm import spec as cmspec

# context catalogue of kernels.py (names -> ids); see SPEC.md
HASHED = {
    "o2": 0, "o3": 1, "o4": 2, "o5": 3, "o6": 4, "o7": 5, "o8": 6, "o12": 7, "o16": 8, "o24": 9,
    "word": 10, "word2": 11, "word3": 12, "wskip": 13, "sp23": 14, "sp34": 15, "sp13": 16,
    "col": 17, "colc1": 18, "class": 19, "xml": 20, "wpos": 21, "cls4c1": 22, "cls12": 23,
    "clsw": 24, "cls6c2": 25,
}
DIRECT = {"o0": (0, 1), "o1": (1, 256), "o2": (2, 65536)}
SELECT = {"none": (0, 1), "c1": (1, 256), "c2": (2, 256), "class2": (3, 64), "col": (4, 16),
          "wlen": (5, 16), "class3": (6, 512)}
APMCTX = {"c0": (0, 1), "c1": (1, 256), "c2h": (2, 1024), "c3h": (3, 1024), "word": (4, 1024)}

K = cmspec.SEL_NAMES


def _level(hashed, direct, mixers, final, apms, hash_bits, block_mib, **rates):
    return {
        "hashed": [HASHED[h] for h in hashed],
        "direct": [DIRECT[d][0] for d in direct],
        "mixers": [SELECT[s][0] for s, _ in mixers],
        "final": SELECT[final[0]][0],
        "apms": [APMCTX[a][0] for a, _ in apms],
        "block_mib": block_mib,
        "cm": {
            "hashed": len(hashed),
            "hash_bits": hash_bits,
            "direct": [DIRECT[d][1] for d in direct],
            "mixers": [(SELECT[s][1], K[kind]) for s, kind in mixers],
            "final": (SELECT[final[0]][1], K[final[1]]),
            "apms": [(APMCTX[a][1], wt) for a, wt in apms],
            **rates,
        },
    }


_FAST = ["o2", "o3", "o4", "o6", "word"]
_MID = ["o2", "o3", "o4", "o5", "o6", "word", "word2", "col", "class"]
_DEF = ["o2", "o3", "o4", "o5", "o6", "o8", "word", "word2", "col", "class", "cls6c2"]
_MIX4 = [("none", "match"), ("none", "c0"), ("c1", "none"), ("class2", "bitpos")]

LEVELS = {
    0: _level(_FAST, ["o0", "o1"], [("none", "c0")], ("none", "none"), [], 18, 16,
              extra_inputs=0, run=0, match_bits=18),
    1: _level(_FAST, ["o0", "o1"], [("none", "match"), ("none", "c0")], ("none", "c0"), [], 19, 16,
              extra_inputs=0, run=0, match_bits=18),
    2: _level(_FAST, ["o0", "o1"], _MIX4[:3], ("none", "c0"), [], 19, 16,
              extra_inputs=1, run=1, match_bits=19),
    3: _level(_MID, ["o0", "o1"], _MIX4[:3], ("none", "c0"), [], 20, 32,
              extra_inputs=1, run=1, match_bits=20),
    4: _level(_MID, ["o0", "o1"], _MIX4, ("none", "c0"), [("c1", 8)], 20, 32,
              extra_inputs=1, run=1, match_bits=20),
    5: _level(_DEF, ["o0", "o1"], _MIX4, ("none", "c0"), [("c1", 8)], 20, 32,
              extra_inputs=1, run=1, match_bits=20),
    6: _level(_DEF, ["o0", "o1"], _MIX4, ("none", "c0"), [("c1", 8)], 22, 64,
              extra_inputs=1, run=1, match_bits=22),
    7: _level(_DEF, ["o0", "o1"], _MIX4, ("none", "c0"), [("c1", 8)], 23, 64,
              extra_inputs=1, run=1, match_bits=22),
    8: _level(_DEF, ["o0", "o1"], _MIX4, ("none", "c0"), [("c1", 8)], 23, 64,
              extra_inputs=1, run=1, match_bits=22),
    9: _level(_DEF, ["o0", "o1"], _MIX4, ("none", "c0"), [("c1", 8)], 24, 64,
              extra_inputs=1, run=1, match_bits=22),
}


def memory_usage(level: int) -> int:
    """Bytes to code one block at ``level``: the model plus the block's buffers."""
    lv = LEVELS[level]
    block = lv["block_mib"] << 20
    # model + input copy + output buffer (block * 1.125) + decoder's output bytes
    return cmspec.memory(lv["cm"]) + 3 * block
