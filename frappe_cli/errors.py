"""The squeeze error tree.

Every failure a user can cause (bad input, bad options, I/O) is a
``SqueezeError``: the CLI prints it as one line ``squeeze: FILE: message`` and
exits with ``exit_code``.  The wording follows xz where it fits.  Decoders must
turn every internal failure (coder exceptions, numpy errors on hostile sizes)
into one of these; anything else that escapes is a bug and is reported as an
"Internal error" (with a traceback only under ``SQUEEZE_DEBUG=1``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_WARNING = 2


class SqueezeError(Exception):
    """Base class: a one-line, user-facing message.

    A subclass names its default message and exit status in its class line:
    ``class FormatError(SqueezeError, message="File format not recognized")``.
    """

    exit_code = EXIT_ERROR
    default_message = "Error"

    def __init_subclass__(cls, message: str | None = None, exit_code: int | None = None,
                          **kw):
        super().__init_subclass__(**kw)
        if message is not None:
            cls.default_message = message
        if exit_code is not None:
            cls.exit_code = exit_code

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class FormatError(SqueezeError, message="File format not recognized"):
    """The input is not a .sqz stream (bad magic)."""


class CorruptError(SqueezeError, message="Compressed data is corrupt"):
    """Checks failed or structures are inconsistent."""


class TruncatedError(CorruptError, message="Unexpected end of input"):
    """The stream ends before its footer."""


class UnsupportedError(SqueezeError, message="Unsupported options"):
    """A well-formed stream this build cannot decode (newer version, unknown codec)."""


class MemoryLimitError(SqueezeError, message="Memory usage limit reached"):
    """Decoding (or encoding) would need more memory than allowed by -M or the format."""


class OptionError(SqueezeError, message="Invalid options"):
    """Bad codec parameters or option combinations."""


class InputError(SqueezeError, message="Unsupported input"):
    """Input that a codec cannot take (e.g. not an image for the image codec)."""


class OutputError(SqueezeError, message="Cannot write the output"):
    """Writing the output failed (exists, no permission, disk full...).

    ``filename`` names the output, so the CLI reports ``squeeze: OUT: message``
    about the file it could not write, as xz does, not about the input.
    """

    def __init__(self, message: str | None = None, filename: str | None = None):
        super().__init__(message)
        self.filename = filename


class SkipWarning(SqueezeError, message="skipped", exit_code=EXIT_WARNING):
    """A file was skipped (already compressed, not a regular file...): exit 2 as xz."""


def corrupt_if(cond: bool, what: str = "") -> None:
    """Raise CorruptError when ``cond`` holds (small helper for decoders)."""
    if cond:
        raise CorruptError(
            "Compressed data is corrupt" + (f" ({what})" if what else "")
        )


class ClusterError(SqueezeError, message="Dask cluster error"):
    """The Dask cluster of ``--scheduler`` cannot be reached, was lost, or kept failing."""
