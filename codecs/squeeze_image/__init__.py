"""FRAPPE-Image: squeeze's lossy learned image codec (codec id ``frappe``); see SPEC.md.

``squeeze_image.FrameEncoder`` / ``FrameDecoder`` (``frames.py``) code camera
frames one payload each; they load lazily, so ``import squeeze_image`` stays
cheap (no numpy, no numba).
"""

_LAZY = {"FrameEncoder": "squeeze_image.frames", "FrameDecoder": "squeeze_image.frames",
         "RateControl": "squeeze_image.frames"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'squeeze_image' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
