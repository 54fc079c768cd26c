"""The executable codec (``exe``) end to end: round trips, levels, structure, corruption
(the checks it shares with the text codec: test_cm_codecs.py)."""

import os

import numpy as np
import pytest
from exe_util import synthetic_code, synthetic_elf, system_file
from hypothesis import given, settings
from hypothesis import strategies as st

from frappe_cli import container, registry
from frappe_cli.errors import CorruptError, SqueezeError
from frappe_cli.testing import check_golden_encodes, check_roundtrip, corpus_file, write_golden_of

SMALL_ELF = ["/usr/bin/true", "/usr/bin/cat", "/usr/bin/ls"]


def exe(level=6):
    return registry.make("exe", level)


# ---- contract ----------------------------------------------------------------------------
def test_memory_usage_honest():
    from frappe_cli.coding.cm import spec as cmspec
    from squeeze_binary import exe_levels

    for level in range(10):
        lv = exe_levels.LEVELS[level]
        mem = exe(level).memory_usage()
        assert mem >= cmspec.memory(lv["cm"]) + (lv["block_mib"] << 20)
        assert mem < 1 << 30
    assert exe(0).memory_usage() < exe(6).memory_usage() < exe(9).memory_usage()


def test_auto_routes_executables_to_exe():
    from frappe_cli import detect

    assert detect.choose_codec(synthetic_elf())[0] == "exe"
    assert detect.choose_codec(system_file("/usr/bin/true"))[0] == "exe"
    pe = corpus_file("silesia/ooffice").read_bytes()[:4096]
    assert detect.choose_codec(pe)[0] == "exe"


# ---- round trips -------------------------------------------------------------------------
@pytest.mark.parametrize("path", SMALL_ELF)
def test_system_elf_roundtrip(path):
    data = system_file(path)
    blob = check_roundtrip(exe(), data)
    zs = container.compress(data, "zstd", level=9)
    assert len(blob) < 0.8 * len(zs)
    # the codec's own stream, not the zstd fallback, coded the file
    info = container.scan_streams(__import__("io").BytesIO(blob))[0]
    assert info.blocks[0].kind == container.KIND_CODEC


def test_beats_xz_x86_on_ls():
    import lzma

    data = system_file("/usr/bin/ls")
    xz = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                       filters=[{"id": lzma.FILTER_X86},
                                {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}])
    payload = exe().encode_block(data)
    assert len(payload) < 0.9 * len(xz), (len(payload), len(xz))


@pytest.mark.parametrize("level", range(10))
def test_every_level_roundtrips(level):
    data = synthetic_elf(3000, level) + system_file("/usr/bin/true")[:6000]
    check_roundtrip(exe(level), data)


def test_pe_prefix_roundtrip():
    data = corpus_file("silesia/ooffice").read_bytes()[:200_000]
    check_roundtrip(exe(), data)


def test_block_ends_cut_instructions():
    # small blocks cut the code (and its E8/E9 operands) at arbitrary points
    data = system_file("/usr/bin/true")
    for bs in (4093, 10007):
        check_roundtrip(exe(), data, block_size=bs)
    for cut in (1, 2, 3, 4, 5, 777, 5001):
        code = synthetic_code(3000 + cut, 7)
        for tail in (b"\xe8", b"\xe8\x01", b"\xe9\x00\x10\x00", b"\x0f", b"\x0f\x84\x00"):
            d = code[:cut] + tail
            codec = exe()
            assert codec.decode_block(codec.encode_block(d), len(d)) == d


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from([0, 6, 9]), st.booleans())
def test_arbitrary_bytes_roundtrip(data, level, as_elf):
    if as_elf:  # behind a real ELF header: parsed, regions, transform on the code region
        data = synthetic_elf(500, 3) + data
    codec = exe(level)
    if data:
        assert codec.decode_block(codec.encode_block(data), len(data)) == data


def test_encoder_and_decoder_probabilities_identical():
    from squeeze_binary import exe_levels, exe_block_coder

    data = synthetic_elf(8000, 2) + system_file("/usr/bin/true")[:8000]
    for level in (0, 6, 9):
        enc, dec, out = exe_block_coder.probabilities(data, exe_levels.LEVELS[level])
        assert out == data
        assert np.array_equal(enc, dec)
        assert enc.min() >= 1 and enc.max() <= 65535


def test_region_table_from_elf():
    from squeeze_binary import exe_block_coder, regions

    data = synthetic_elf(6000, 1)
    plan = exe_block_coder.plan_block(data, np.frombuffer(data, dtype=np.uint8))
    assert plan.x86 and plan.mode64
    labels = [lab for _, lab, _ in plan.regions]
    assert regions.CODE in labels and regions.RODATA in labels
    start = 0
    for length, lab, delta in plan.regions:
        if lab == regions.CODE:
            assert start == 64 and (start + delta) == 0x401000
        start += length
    # the header round-trips and is validated
    hb = exe_block_coder.header_bytes(plan)
    again, off = exe_block_coder.parse_header(hb + b"xyz", len(data))
    assert off == len(hb) and again.regions == plan.regions and again.flags == plan.flags
    for n in (len(data) - 1, len(data) + 1):
        with pytest.raises(CorruptError):
            exe_block_coder.parse_header(hb, n)


def test_incremental_x86_decoder_agrees_with_length_decoder():
    # the model's byte-at-a-time instruction state finds the same instruction starts
    # as the linear-sweep length decoder of the x86 transform
    from squeeze_binary import exe_kernels as ek
    from squeeze_binary import x86, x86_kernels as xk

    for data in (synthetic_code(20000, 4), system_file("/usr/bin/cat")[0x4000:0x9000]):
        data = b"\x90" + data
        starts, _ = x86.instruction_roles(data, mode64=True)
        buf = np.frombuffer(data, dtype=np.uint8)
        lab = np.full(len(buf), ek.L_CODE, dtype=np.uint8)
        lab[0] |= ek.LAB_START
        ph = ek.x86_phases(buf, lab, True, xk.MODRM1, xk.IMM1, xk.MODRM2, xk.IMM2)
        ours = (ph == ek.P_START).astype(np.uint8)
        agree = np.mean(ours == starts)
        assert agree > 0.995, agree


def test_token_contexts_are_causal():
    # a token context may only use bytes before the coded one: changing a later
    # byte never changes the probabilities of earlier bits
    from squeeze_binary import exe_levels, exe_block_coder

    lv = exe_levels.LEVELS[9]
    assert lv["vocab"] > 0 and "tok" in lv["names"]["hashed"]
    data = bytearray(system_file("/usr/bin/true")[:5000])
    enc1, _, _ = exe_block_coder.probabilities(bytes(data), lv)
    data[3000] ^= 0x5A
    enc2, _, _ = exe_block_coder.probabilities(bytes(data), lv)
    assert np.array_equal(enc1[: 3000 * 8], enc2[: 3000 * 8])
    assert not np.array_equal(enc1, enc2)


# ---- corruption -----------------------------------------------------------------------------
def test_codec_level_corruption_raises_corrupt_error():
    data = synthetic_elf(3000, 6)
    codec = exe()
    payload = codec.encode_block(data)
    assert payload[0] == 0  # the CM method
    bad_cases = [b"", b"\x07" + payload[1:], payload[: len(payload) // 2], payload[:2],
                 b"\x01" + data[:-1], b"\x00\x04" + payload[2:], b"\x00\x01\x00",
                 b"\x00\x01\x05" + b"\xff" * 12]
    for bad in bad_cases:
        with pytest.raises(CorruptError):
            codec.decode_block(bad, len(data))


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(1, 6000), st.sampled_from([0, 6, 9]))
def test_hostile_payload_never_crashes(junk, size, level):
    codec = exe(level)
    try:
        out = codec.decode_block(b"\x00" + junk, size)
        assert len(out) == size
    except CorruptError:
        pass


@settings(max_examples=20, deadline=None)
@given(st.data())
def test_truncated_and_flipped_payloads(draw):
    """Truncations and bit flips of a payload: CorruptError or right-sized output.

    Integrity is the container's job (block sizes + xxh64, as for the text codec):
    the CM stream's own end-position check catches most truncations, but about 1 in
    200 cuts ends where a sound stream would and decodes to wrong bytes of the right
    size; through the container every truncation and bit flip is an error.
    """
    data = synthetic_elf(1500, 8)
    codec = exe()
    payload = codec.encode_block(data)
    cut = draw.draw(st.integers(0, len(payload) - 1))
    try:
        out = codec.decode_block(payload[:cut], len(data))
        assert len(out) == len(data)
    except CorruptError:
        pass
    blob = container.compress(data, codec)
    with pytest.raises(SqueezeError):
        container.decompress(blob[:draw.draw(st.integers(0, len(blob) - 1))])
    bad = bytearray(blob)
    bad[draw.draw(st.integers(0, len(blob) - 1))] ^= 1 << draw.draw(st.integers(0, 7))
    with pytest.raises(SqueezeError):
        container.decompress(bytes(bad))
    i = draw.draw(st.integers(0, len(payload) - 1))
    bad = bytearray(payload)
    bad[i] ^= 1 << draw.draw(st.integers(0, 7))
    try:
        out = codec.decode_block(bytes(bad), len(data))
        assert len(out) == len(data)  # a flip in the last bits may still decode
    except CorruptError:
        pass


# ---- golden ----------------------------------------------------------------------------------
GOLDEN_CASES = {
    "exe-v1-l6-synthelf": (6, lambda: synthetic_elf(12000, 11)),
    "exe-v1-l9-synthelf": (9, lambda: synthetic_elf(6000, 12)),
}


@pytest.mark.skipif(not os.environ.get("SQUEEZE_WRITE_GOLDEN"), reason="writer only")
def test_write_golden():  # pragma: no cover - used once per bitstream version
    for name, (level, make) in GOLDEN_CASES.items():
        data = make()
        write_golden_of(name, data, "exe", level, f"exe codec level {level}, synthetic ELF64 "
                        f"({len(data)} bytes) from tests/test_binary_exe.py")


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_decodes(name):
    level, make = GOLDEN_CASES[name]
    blob = check_golden_encodes(name, make(), "exe", level)
    info = container.scan_streams(__import__("io").BytesIO(blob))[0]
    assert info.blocks[0].kind == container.KIND_CODEC


# ---- slow --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ooffice_roundtrip_and_target():
    import lzma

    data = corpus_file("silesia/ooffice").read_bytes()
    blob = check_roundtrip(exe(), data)
    xz = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                       filters=[{"id": lzma.FILTER_X86},
                                {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}])
    assert len(blob) < 0.9 * len(xz)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/usr/bin/bash", "/usr/bin/python3", "/usr/bin/git"])
def test_large_system_elf_roundtrip(path):
    data = system_file(path)
    check_roundtrip(exe(), data)
