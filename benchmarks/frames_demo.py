"""Live frame encoding with FRAPPE: a camera pans across a photograph, the sender
encodes every frame at a constant bitrate, the server decodes some of them.

    .venv/bin/python benchmarks/frames_demo.py [--size 1920x1080] [--frames 90]
        [--fps 30] [--bitrate 6M] [--threads 2] [--sqz clip.sqz] [PHOTO]

The "camera" is a sequence of crops panned across a CLIC training photograph
(``../shared/corpora/train-images-clic``; never Kodak, the test set).  The sender
is ``squeeze_image.FrameEncoder`` with constant-bitrate control; each second of
video is reported as it is sent (its bitrate, the encoder's frames per wall
second and CPU per frame).  ``--sqz`` also writes the payloads as a .sqz frame
stream, exactly what ``squeeze compress --codec frappe --frames WxH --bitrate R
--fps F`` writes from a pipe of raw RGB24 frames (``squeeze -l`` lists it,
``squeeze -dc`` gives the frames back).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "codecs", ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="FRAPPE live frame encoding demo")
    ap.add_argument("photo", nargs="?", help="photograph to pan across (default: a CLIC one)")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--bitrate", default="6M", help="bits per second (6M at 1080p30 is "
                    "about 0.1 bpp)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode", type=int, default=3, help="frames the server decodes")
    ap.add_argument("--sqz", help="also write the stream as a .sqz file")
    a = ap.parse_args(argv)

    import numpy as np

    from bench_frames import CLIC, DEFAULT_IMAGE, corpora, pan_clip
    from squeeze_image import FrameDecoder, FrameEncoder
    from benchmarks.suites.image import psnr
    from squeeze_image.frames import parse_bitrate, parse_frames

    w, h = parse_frames(a.size)
    rate = parse_bitrate(a.bitrate)
    photo = Path(a.photo) if a.photo else corpora() / CLIC / DEFAULT_IMAGE
    clip = pan_clip(photo, w, h, a.frames)
    print(f"camera: {a.frames} frames {w}x{h} panned across {photo.name}, {a.fps} fps; "
          f"target {rate / 1e6:g} Mbit/s = {rate / a.fps / 8:,.0f} bytes per frame "
          f"({rate / a.fps / (w * h):.4f} bpp)")

    enc = FrameEncoder(w, h, bitrate=rate, fps=a.fps, threads=a.threads)
    enc.encode_batch(clip[:2])  # warm-up (kernels from the cache, model)
    enc = FrameEncoder(w, h, bitrate=rate, fps=a.fps, threads=a.threads)
    payloads: list[bytes] = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    mark, cmark = t0, c0
    for i, p in enumerate(enc.encode_iter(clip), 1):
        payloads.append(p)
        if i % a.fps == 0 or i == len(clip):
            now, cnow = time.perf_counter(), time.process_time()
            last = payloads[-((i - 1) % a.fps + 1):]
            bits = 8 * sum(len(x) for x in last)
            print(f"  second {(i - 1) // a.fps + 1}: {len(last)} frames, "
                  f"{bits / len(last) * a.fps / 1e6:.3f} Mbit/s, encoded at "
                  f"{len(last) / (now - mark):.1f} fps, {1e3 * (cnow - cmark) / len(last):.1f} ms "
                  "CPU per frame")
            mark, cmark = now, cnow
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    bits = [8 * len(p) for p in payloads]
    win = [sum(bits[i:i + a.fps]) for i in range(max(1, len(bits) - a.fps + 1))]
    print(f"sent {len(clip) / a.fps:.2f} s of video in {wall:.2f} s: {len(clip) / wall:.1f} fps "
          f"({len(clip) / cpu:.1f} frames per CPU-second), mean "
          f"{sum(bits) / len(bits) * a.fps / 1e6:.3f} Mbit/s, 1-second windows "
          f"{min(win) / 1e6:.3f}..{max(win) / 1e6:.3f} Mbit/s")

    dec = FrameDecoder(threads=a.threads)
    dec.decode(FrameEncoder(64, 64, quality=50).encode(clip[0][:64, :64]))  # warm-up
    pick = sorted({round(k * (len(clip) - 1) / max(1, a.decode - 1)) for k in range(a.decode)})
    c0 = time.process_time()
    out = dec.decode_batch([payloads[i] for i in pick])
    dcpu = (time.process_time() - c0) / len(pick)
    ps = [psnr(clip[i], o) for i, o in zip(pick, out)]
    print(f"server: decoded frames {pick} ({dcpu:.2f} s CPU each): PSNR "
          f"{statistics.fmean(ps):.2f} dB (min {min(ps):.2f})")
    assert all(o.shape == (h, w, 3) and o.dtype == np.uint8 for o in out)

    if a.sqz:
        import io

        from frappe_cli import container
        from squeeze_image.codec import FrappeCodec

        codec = FrappeCodec(frames=f"{w}x{h}", bitrate=rate, fps=a.fps)
        raw = io.BytesIO(b"".join(f.tobytes() for f in clip))
        with open(a.sqz, "wb") as f:
            container.compress_stream(raw, f, codec, threads=a.threads)
        blob = Path(a.sqz).read_bytes()
        (s,) = container.scan_streams(io.BytesIO(blob))
        same = [blob[b.offset:b.offset + b.csize] for b in s.blocks] == payloads
        print(f"wrote {a.sqz}: {len(blob):,} bytes, {len(s.blocks)} frames; its blocks are the "
              f"payloads above: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
