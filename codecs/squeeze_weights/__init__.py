"""squeeze_weights: lossless packers for model weights (DFloat11 and ENEC).

``codec.DFloat11Codec`` (id ``dfloat11``) and ``codec.EnecCodec`` (id ``enec``);
``DFloat11Codec.describe`` (``listing.describe_sqz``) for ``squeeze list -v``;
``bench`` for the bench inputs and peers.  The bitstream is specified in SPEC.md.

The safetensors-style API lives in ``safetensors_io`` and is exported here
lazily (``import squeeze_weights`` stays cheap: the codec module imports it)::

    from squeeze_weights import safe_open, load_file, save_file
"""

#: names exported lazily from squeeze_weights.safetensors_io
_LAZY = ("safe_open", "load_file", "save_file", "serialize", "RawTensor", "TensorNotFoundError")

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        from squeeze_weights import safetensors_io

        value = getattr(safetensors_io, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'squeeze_weights' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
