"""Image input/output for FRAPPE-Image: Pillow parsing, the raw reconstruction format.

Raw reconstruction (what ``decode_block`` returns and the container checks)::

    b"FRAW" | u8 version = 1 | u8 channels (1 L, 2 LA, 3 RGB, 4 RGBA)
    | u8 output format (0 PNG, 1 PNM) | u8 0 | u32 width | u32 height   (little-endian)
    | height x width x channels uint8, row-major, channels interleaved
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from frappe_cli.errors import CorruptError, InputError

RAW_MAGIC = b"FRAW"
RAW_HEAD = struct.Struct("<4sBBBBII")
FMT_PNG, FMT_PNM = 0, 1
MAX_PIXELS = 40_000_000  # 8K UHD (33.2 MPx) fits; decoder memory stays < ~2 GB
MAX_SIDE = 1 << 16


@dataclass
class Picture:
    rgb: np.ndarray  # (H, W, 3) uint8 (grey images replicated to RGB)
    grey: bool
    alpha: np.ndarray | None  # (H, W) uint8
    fmt: int

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        return self.rgb.shape[1]


def check_dims(w: int, h: int) -> None:
    if w < 1 or h < 1:
        raise InputError("image has no pixels")
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise InputError(f"image too large for FRAPPE ({w}x{h}; limit {MAX_PIXELS} pixels, "
                         f"{MAX_SIDE} per side)")


#: input formats (Pillow's names): PNG and PPM/PGM/PBM keep their format on decoding
#: (PBM as PGM), JPEG decodes to PNG (SPEC.md section 1)
FORMATS = ("PNG", "PPM", "JPEG")
_FORMAT_NAMES = "PNG, PPM/PGM/PBM or JPEG"


def _bits_per_sample(im, data: bytes) -> int:
    """The input's bits per sample where the format can hold more than 8 (Pillow
    reads 16-bit RGB(A) PNG, and PPM with maxval > 255, as 8-bit data)."""
    fmt = im.format
    if fmt == "PNG" and data[12:16] == b"IHDR" and len(data) > 24:
        return data[24]
    if fmt == "PPM":
        args = im.tile[0].args if im.tile else None
        if isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], int):
            return int(args[1]).bit_length()  # maxval
        return 16 if im.mode in ("I", "I;16", "I;16B") else 8
    return 8


def _key_alpha(im, bits: int) -> np.ndarray | None:
    """The alpha plane of a greyscale image with a transparent grey value (PNG tRNS;
    bits = the file's sample depth: Pillow keeps the key at that depth while it scales
    1/2/4-bit pixels to 0..255), or None."""
    key = im.info.get("transparency")
    if isinstance(key, bytes) or key is None:
        return None
    key = int(key)
    top = (1 << bits) - 1 if bits < 8 else 255
    if bits < 8 and key <= top:
        key = key * (255 // top)
    grey = np.asarray(im.convert("L"), dtype=np.uint8)
    return np.where(grey == key, 0, 255).astype(np.uint8)


def read_picture(data: bytes) -> Picture:
    """An 8-bit image (RGB or greyscale, with or without alpha or a transparent colour
    or palette entries) in one of ``FORMATS`` -> Picture.  Anything the codec cannot
    hold exactly besides the lossy colours (more than 8 bits per sample, several
    frames, CMYK...) is refused with an ``InputError`` saying so."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow is a dependency
        raise InputError(f"the image codec needs Pillow ({exc})") from None
    Image.MAX_IMAGE_PIXELS = None  # our own limit below, before decoding pixels
    try:
        im = Image.open(io.BytesIO(data))
    except Exception:
        raise InputError(f"not an image FRAPPE can read ({_FORMAT_NAMES}, 8-bit RGB or "
                         "greyscale)") from None
    fmt_name = (im.format or "").upper()
    if fmt_name not in FORMATS:
        raise InputError(f"unsupported image format {fmt_name or 'unknown'} (FRAPPE takes "
                         f"{_FORMAT_NAMES})")
    if getattr(im, "n_frames", 1) > 1:
        raise InputError("images with several frames (animations) are not supported")
    w, h = im.size
    check_dims(w, h)
    bits = _bits_per_sample(im, data)
    if bits > 8:
        raise InputError(f"{bits}-bit samples: FRAPPE codes 8-bit images only (convert the "
                         "image to 8 bits per sample first)")
    mode = im.mode
    key_alpha = None
    if mode == "P":
        mode_to = "RGBA" if ("transparency" in im.info or im.palette.mode == "RGBA") else "RGB"
    elif mode == "PA":
        mode_to = "RGBA"
    elif mode in ("1", "L") and "transparency" in im.info:
        mode_to = "LA"
        key_alpha = _key_alpha(im, bits)
    elif mode == "1":
        mode_to = "L"
    elif mode in ("L", "LA", "RGB", "RGBA"):
        mode_to = mode
    else:
        raise InputError(f"unsupported pixel mode {mode} (FRAPPE takes 8-bit RGB and greyscale, "
                         "with or without alpha)")
    if mode == "RGB" and "transparency" in im.info:
        mode_to = "RGBA"
    try:
        if key_alpha is not None:
            grey = np.asarray(im.convert("L"), dtype=np.uint8)
            arr = np.dstack([grey, key_alpha])
        else:
            im = im.convert(mode_to)
            arr = np.asarray(im, dtype=np.uint8)
    except Exception as exc:
        raise InputError(f"cannot decode the image ({exc})") from None
    grey = mode_to in ("L", "LA")
    alpha = None
    if mode_to in ("LA", "RGBA"):
        alpha = np.ascontiguousarray(arr[..., -1])
        arr = arr[..., :-1]
        if (alpha == 255).all():
            alpha = None  # fully opaque: no alpha plane is stored (SPEC.md section 6)
    if grey:
        g = arr if arr.ndim == 2 else arr[..., 0]
        rgb = np.repeat(g[:, :, None], 3, axis=2)
    else:
        rgb = np.ascontiguousarray(arr)
    return Picture(rgb, grey, alpha, FMT_PNM if fmt_name == "PPM" else FMT_PNG)


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """Integer luma (ITU-R 601 weights), exact and identical everywhere."""
    r = rgb[..., 0].astype(np.int32)
    g = rgb[..., 1].astype(np.int32)
    b = rgb[..., 2].astype(np.int32)
    return ((r * 299 + g * 587 + b * 114 + 500) // 1000).astype(np.uint8)


def raw_size(w: int, h: int, channels: int) -> int:
    return RAW_HEAD.size + w * h * channels


def make_raw(rgb: np.ndarray, grey: bool, alpha: np.ndarray | None, fmt: int) -> bytes:
    h, w, _ = rgb.shape
    planes = [grey_of(rgb)[..., None]] if grey else [rgb]
    if alpha is not None:
        planes.append(alpha[..., None])
    pix = np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0]
    c = pix.shape[2]
    return RAW_HEAD.pack(RAW_MAGIC, 1, c, fmt, 0, w, h) + np.ascontiguousarray(pix).tobytes()


def raw_to_file(raw: bytes) -> bytes:
    """The raw reconstruction as the file the user gets (PNG, or PPM/PGM/PAM for PNM input)."""
    if len(raw) < RAW_HEAD.size:
        raise CorruptError("Compressed data is corrupt (image reconstruction too short)")
    magic, ver, c, fmt, _, w, h = RAW_HEAD.unpack_from(raw)
    if magic != RAW_MAGIC or ver != 1 or c not in (1, 2, 3, 4) or fmt not in (FMT_PNG, FMT_PNM):
        raise CorruptError("Compressed data is corrupt (not a FRAPPE reconstruction)")
    if len(raw) != raw_size(w, h, c):
        raise CorruptError("Compressed data is corrupt (image reconstruction size)")
    from PIL import Image

    pix = np.frombuffer(raw, np.uint8, offset=RAW_HEAD.size).reshape(h, w, c)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    im = Image.fromarray(np.ascontiguousarray(pix[..., 0]) if c == 1 else pix)
    assert im.mode == mode
    out = io.BytesIO()
    if fmt == FMT_PNM and c in (1, 3):
        im.save(out, format="PPM")
    else:  # PNM with alpha has no PPM/PGM form: PNG
        # zlib level 3: the PNG of a decoded 1080p photograph in 0.16-0.19 s CPU
        # instead of 0.46-0.47 s at level 6, 4-12 % larger (the pixels are the same)
        im.save(out, format="PNG", compress_level=3)
    return out.getvalue()
