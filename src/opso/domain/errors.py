"""The opso error hierarchy: one root, each error also a builtin that users already catch."""


class OpsoError(Exception):
    """Root of every error opso raises on purpose."""


class OpsoLoadAudioInputError(OpsoError, ValueError):
    """Audio input cannot be loaded: not audio, truncated, empty, or otherwise unreadable."""


class OpsoLoadAudioInputTooLong(OpsoLoadAudioInputError):  # noqa: N818 - spec name
    """Audio input is longer than the allowed ``max_duration``."""


class AudioReadError(OpsoError, OSError):
    """An audio source could not be read for an I/O reason (permissions, device)."""


class AudioWriteError(OpsoError, OSError):
    """Audio could not be written to its destination."""


class RunMismatchError(OpsoError, ValueError):
    """A run directory holds results made with different settings (another fingerprint)."""


class RunDirectoryError(OpsoError, OSError):
    """A run directory is missing, incomplete or unreadable."""


class RunnerError(OpsoError, RuntimeError):
    """A batch runner could not start or reach its workers (e.g. a Dask scheduler)."""
