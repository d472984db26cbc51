"""Pure, typed core of opso: value objects and maths on numpy arrays (stdlib, numpy, scipy only)."""

from opso.domain.audio import Audio, AudioInfo
from opso.domain.errors import (
    AudioReadError,
    AudioWriteError,
    OpsoError,
    OpsoLoadAudioInputError,
    OpsoLoadAudioInputTooLong,
)

__all__ = [
    "Audio",
    "AudioInfo",
    "AudioReadError",
    "AudioWriteError",
    "OpsoError",
    "OpsoLoadAudioInputError",
    "OpsoLoadAudioInputTooLong",
]
