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
    """Base class: a one-line, user-facing message."""

    exit_code = EXIT_ERROR
    default_message = "Error"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class FormatError(SqueezeError):
    """The input is not a .sqz stream (bad magic)."""

    default_message = "File format not recognized"


class CorruptError(SqueezeError):
    """Checks failed or structures are inconsistent."""

    default_message = "Compressed data is corrupt"


class TruncatedError(CorruptError):
    """The stream ends before its footer."""

    default_message = "Unexpected end of input"


class UnsupportedError(SqueezeError):
    """A well-formed stream this build cannot decode (newer version, unknown codec)."""

    default_message = "Unsupported options"


class MemoryLimitError(SqueezeError):
    """Decoding (or encoding) would need more memory than allowed by -M or the format."""

    default_message = "Memory usage limit reached"


class OptionError(SqueezeError):
    """Bad codec parameters or option combinations."""

    default_message = "Invalid options"


class InputError(SqueezeError):
    """Input that a codec cannot take (e.g. not an image for the image codec)."""

    default_message = "Unsupported input"


class OutputError(SqueezeError):
    """Writing the output failed (exists, no permission, disk full...).

    ``filename`` names the output, so the CLI reports ``squeeze: OUT: message``
    about the file it could not write, as xz does, not about the input.
    """

    default_message = "Cannot write the output"

    def __init__(self, message: str | None = None, filename: str | None = None):
        super().__init__(message)
        self.filename = filename


class SkipWarning(SqueezeError):
    """A file was skipped (already compressed, not a regular file...): exit 2 as xz."""

    exit_code = EXIT_WARNING
    default_message = "skipped"


def corrupt_if(cond: bool, what: str = "") -> None:
    """Raise CorruptError when ``cond`` holds (small helper for decoders)."""
    if cond:
        raise CorruptError(
            "Compressed data is corrupt" + (f" ({what})" if what else "")
        )


class ClusterError(SqueezeError):
    """The Dask cluster of ``--scheduler`` cannot be reached, was lost, or kept failing."""

    default_message = "Dask cluster error"
