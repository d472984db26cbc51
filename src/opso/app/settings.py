"""Configuration: the spec's sections as frozen pydantic models, read from YAML.

A configuration has four sections, ``runtime``, ``raven``, ``audio`` and ``split_and_save``.
Every key is checked: unknown keys are errors, numbers are never silently truncated (``4.5`` is
not an integer), and an invalid file reports every problem with its key path. Missing sections
and keys take their defaults (see docs/decisions/0042-configuration-with-pydantic.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opso.domain.errors import ConfigError, ParameterError

#: The default configuration, as ``opso config default`` prints it.
DEFAULT_CONFIG = """\
runtime:
  cores_per_node: 1              # number of cores per node (positive integer)
  batch_size: 1                  # size of batches (positive integer)
raven:
  annotations: false             # look for Raven annotations (true or false)
  label_corrections: null        # CSV file correcting Raven classes (null or an existing file)
audio:
  sample_rate: 22050             # resample audio to this rate in Hz (null keeps the file's rate)
  max_duration: null             # longest audio file to read, in seconds (null: no limit)
  resample_type: kaiser_best     # kaiser_best, kaiser_fast or a soxr_* quality
split_and_save:
  clip_duration: 5               # length of each clip in seconds (> 0)
  clip_overlap: 1                # overlap of consecutive clips in seconds (>= 0)
  final_clip: null               # audio after the last full clip: null, remainder, full, extend
  dry_run: false                 # list the clips without writing audio (true or false)
"""

ResampleType = Literal[
    "kaiser_best", "kaiser_fast", "soxr_vhq", "soxr_hq", "soxr_mq", "soxr_lq", "soxr_qq"
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class RuntimeSettings(_Section):
    """How work is spread over the machine."""

    cores_per_node: int = Field(default=1, gt=0)
    batch_size: int = Field(default=1, gt=0)


class RavenSettings(_Section):
    """Reading Raven selection tables."""

    annotations: bool = False
    label_corrections: str | None = None

    @field_validator("label_corrections")
    @classmethod
    def _existing_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ParameterError(f"label corrections file not found: {value}")
        return value


class AudioSettings(_Section):
    """Loading audio."""

    sample_rate: int | None = Field(default=22050, gt=0)
    max_duration: float | None = Field(default=None, gt=0)
    resample_type: ResampleType = "kaiser_best"


class SplitAndSaveSettings(_Section):
    """Splitting audio into clips."""

    clip_duration: float = Field(default=5.0, gt=0)
    clip_overlap: float = Field(default=1.0, ge=0)
    final_clip: Literal["remainder", "full", "extend"] | None = None
    dry_run: bool = False


class OpsoConfig(_Section):
    """A whole configuration: the spec's four sections."""

    runtime: RuntimeSettings = RuntimeSettings()
    raven: RavenSettings = RavenSettings()
    audio: AudioSettings = AudioSettings()
    split_and_save: SplitAndSaveSettings = SplitAndSaveSettings()


SECTIONS: tuple[str, ...] = tuple(OpsoConfig.model_fields)


def _key_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    value = err.get("input")
    if isinstance(value, dict):
        return str(err["msg"])
    return f"{err['msg']} (got {value!r})"


def parse_yaml(text: str, *, source: str = "<string>") -> dict[str, Any]:
    """Parse YAML text into a mapping (an empty document gives ``{}``).

    Raises
    ------
    ConfigError
        If the text is not YAML or its top level is not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML ({e})", [("(top level)", str(e))]) from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"a configuration is a mapping of sections, got {type(data).__name__}"
        raise ConfigError(f"{source}: {msg}", [("(top level)", msg)])
    return data


def parse_config(data: dict[str, Any], *, source: str = "<string>") -> OpsoConfig:
    """Validate a parsed configuration mapping.

    Raises
    ------
    ConfigError
        Listing every invalid key as ``(key path, message)``.
    """
    try:
        return OpsoConfig.model_validate(data)
    except ValidationError as e:
        errors = [(_key_path(err["loc"]), _message(err)) for err in e.errors()]
        lines = "\n".join(f"  {path}: {msg}" for path, msg in errors)
        raise ConfigError(f"{source}: invalid configuration\n{lines}", errors) from e


def read_config_file(fname: str | Path) -> dict[str, Any]:
    """Read a YAML configuration file into a mapping, without validating it.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ConfigError
        If it is not a YAML mapping.
    """
    path = Path(fname)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise FileNotFoundError(e.errno, f"configuration file not found: {path}", str(path)) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the configuration ({e})") from e
    return parse_yaml(text, source=str(path))


def get_default_config() -> dict[str, Any]:
    """Return the default configuration as a dictionary of sections.

    Returns
    -------
    dict
        ``{"runtime": {...}, "raven": {...}, "audio": {...}, "split_and_save": {...}}``.
    """
    return validate(DEFAULT_CONFIG)


def validate(config: str) -> dict[str, Any]:
    """Validate a configuration given as a YAML string.

    Parameters
    ----------
    config
        YAML text with any of the sections ``runtime``, ``raven``, ``audio``,
        ``split_and_save``; missing sections and keys take their defaults.

    Returns
    -------
    dict
        The complete validated configuration.

    Raises
    ------
    ConfigError
        (a ``ValueError``) listing every invalid or unknown key with its key path.
    """
    return parse_config(parse_yaml(config)).model_dump()


def validate_file(fname: str | Path) -> dict[str, Any]:
    """Validate a YAML configuration file; see :func:`validate`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ConfigError
        Listing every invalid or unknown key with its key path.
    """
    return parse_config(read_config_file(fname), source=str(fname)).model_dump()


RunnerName = Literal["local", "dask-local", "dask"]
_RUNNERS = ("local", "dask-local", "dask")


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How a command runs: model device and backend, batch runner, workers and attempts.

    The container's ``config`` takes :meth:`as_config`; the CLI options and the Python API
    build one of these, so both check the same rules.

    Raises
    ------
    ParameterError
        If the runner is unknown, ``scheduler`` is given without ``runner="dask"`` (or missing
        with it), ``workers`` is negative (or 0 for a Dask runner), or ``attempts < 1``.
    """

    device: str | None = None
    backend: Literal["fast", "eager"] = "fast"
    runner: RunnerName = "local"
    workers: int | None = None
    scheduler: str | None = None
    attempts: int = 3

    def __post_init__(self) -> None:
        if self.backend not in ("fast", "eager"):
            raise ParameterError(f"backend must be 'fast' or 'eager', got {self.backend!r}")
        if self.runner not in _RUNNERS:
            raise ParameterError(f"runner must be one of {list(_RUNNERS)}, got {self.runner!r}")
        if (self.runner == "dask") != (self.scheduler is not None):
            raise ParameterError("runner 'dask' needs a scheduler address, and only it takes one")
        if self.workers is not None and self.workers < 0:
            raise ParameterError(f"workers must be >= 0, got {self.workers}")
        if self.runner != "local" and self.workers == 0:
            raise ParameterError(f"runner {self.runner!r} needs workers >= 1")
        if self.attempts < 1:
            raise ParameterError(f"attempts must be >= 1, got {self.attempts}")

    def as_config(self) -> dict[str, Any]:
        """Return the settings as the container's ``config`` mapping."""
        return {
            "device": self.device,
            "backend": self.backend,
            "runner": self.runner,
            "workers": self.workers,
            "scheduler": self.scheduler,
            "attempts": self.attempts,
        }
