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


class SpectrogramInputError(OpsoError, TypeError):
    """A spectrogram was built from the wrong input: not an array, wrong shape, not Audio."""


class SpectrogramParameterError(OpsoError, ValueError):
    """A spectrogram parameter is out of range: window, overlap, frequency band, time range."""


class ImageReadError(OpsoError, ValueError):
    """A file that should hold a spectrogram image is missing its image data or is not an image."""


class AnnotationError(OpsoError, ValueError):
    """Annotations are invalid: a box that ends before it begins, a negative or missing time."""


class AnnotationFormatError(AnnotationError):
    """An annotation file cannot be parsed; the message names the file, row and column at fault."""


class LocalizationError(OpsoError, ValueError):
    """Receivers and times cannot give a position: too few, degenerate, or invalid input."""


class AudioToolError(OpsoError, RuntimeError):
    """An external audio tool (ffmpeg) is missing or failed; the message carries its output."""


class ConfigError(OpsoError, ValueError):
    """A configuration is invalid; ``errors`` lists ``(key path, message)`` for every problem."""

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[tuple[str, str]] = list(errors or [])


class UnknownSpeciesError(OpsoError, KeyError):
    """A species name is not in the species table (the message suggests close matches)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ImageWriteError(OpsoError, OSError):
    """A spectrogram image or plot could not be written to its destination."""


class ModelFileError(OpsoError, ValueError):
    """A model file is not an opso model, was tampered with, or is from a newer opso."""


class LabelTableError(OpsoError, ValueError):
    """A label table is empty, lacks a column, or names a class outside the class list."""


class ClassifierInputError(OpsoError, ValueError):
    """A model or dataset got input it cannot use (wrong shape, unknown class, no last conv)."""


class RunMismatchError(OpsoError, ValueError):
    """A run directory holds results made with different settings (another fingerprint)."""


class RunDirectoryError(OpsoError, OSError):
    """A run directory is missing, incomplete or unreadable."""


class RunnerError(OpsoError, RuntimeError):
    """A batch runner could not start or reach its workers (e.g. a Dask scheduler)."""


class TableReadError(OpsoError, ValueError):
    """A table file is missing, empty, not UTF-8 or malformed; the message names file and line."""


class ParameterError(OpsoError, ValueError):
    """An argument is out of range or does not fit with another; the message names it."""


class OutputWriteError(OpsoError, OSError):
    """An output could not be written: no space left, over quota, permission denied, read-only.

    The message names the destination; ``errno`` is the operating system's error number.
    """


class MissingExtraError(OpsoError, ImportError):
    """An optional dependency is not installed; the message says what to install."""


class StartTimeUnknownError(OpsoError, ValueError):
    """A recording's start time is needed but neither its metadata nor its name gives one."""


class BaseModelMismatchError(ModelFileError):
    """A head's base model file is not the one it was trained on (another SHA-256)."""
