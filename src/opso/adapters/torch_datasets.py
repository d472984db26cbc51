"""Audio -> spectrogram-image tensor datasets for training and prediction.

Every dataset here, and :class:`~opso.adapters.torch_classifier.TorchClassifier` at prediction
time, turns waveforms into model input through :class:`SpectrogramInput`: a batched
:class:`~opso.adapters.torch_spectrogram.TorchSpectrogrammer` (Hann window, dB, clipped to
the decibel limits, bilinear resize with antialiasing), then the spec's image convention
(``decibel_limits`` mapped to white..black, low frequencies at the bottom), then the spec's
normalisation ``(v - 0.5) / 0.5`` repeated over the channels. Training and prediction
therefore see the same tensors for the same audio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from numpy.typing import NDArray
from torch.utils.data import Dataset

from opso.adapters.atomic import atomic_path
from opso.adapters.torch_spectrogram import TorchSpectrogrammer
from opso.domain.audio import Audio, fixed_length
from opso.domain.classifier import LabelledClip, Preprocessing
from opso.domain.errors import ClassifierInputError, LabelTableError, ParameterError
from opso.ports.audio_io import AudioReader

if TYPE_CHECKING:
    import PIL.Image


class SpectrogramInput:
    """Turn waveforms into model input [shape=(batch, channels, height, width)].

    Parameters
    ----------
    preprocessing
        Sample rate, window, decibel limits, band, image size and channels.
    device
        Torch device of the computation and the result.
    """

    def __init__(self, preprocessing: Preprocessing, *, device: str = "cpu") -> None:
        self.preprocessing = preprocessing
        self.spectrogrammer = TorchSpectrogrammer(
            sample_rate=preprocessing.sample_rate,
            window_samples=preprocessing.window_samples,
            overlap_samples=preprocessing.overlap_samples,
            decibel_limits=preprocessing.decibel_limits,
            bandpass=preprocessing.bandpass,
            image_shape=(preprocessing.height, preprocessing.width),
            device=device,
        )

    def images(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Return grey images in 0-1 [shape=(batch, height, width)], 0 = loudest, row 0 = top.

        Raises
        ------
        ClassifierInputError
            If the clips are shorter than one spectrogram window.
        """
        if waveforms.shape[-1] < self.preprocessing.window_samples:
            raise ClassifierInputError(
                f"clips of {waveforms.shape[-1]} samples are shorter than one spectrogram window "
                f"({self.preprocessing.window_samples})"
            )
        low, high = self.preprocessing.decibel_limits
        db = self.spectrogrammer(waveforms)
        return ((high - db) / (high - low)).clamp_(0.0, 1.0).flip(-2)

    def tensors(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise 0-1 images [shape=(batch, H, W)] to model input (batch, C, H, W)."""
        x = (images - 0.5) / 0.5
        return x.unsqueeze(1).expand(-1, self.preprocessing.channels, -1, -1).contiguous()

    def __call__(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Return model input for waveforms [shape=(batch, n_samples)]."""
        return self.tensors(self.images(waveforms))


def _gaussian_blur(img: torch.Tensor, radius: float) -> torch.Tensor:
    """Blur (batch, H, W) images with a Gaussian of standard deviation ``radius`` pixels."""
    if radius <= 0:
        return img
    half = max(1, int(np.ceil(3 * radius)))
    t = torch.arange(-half, half + 1, dtype=img.dtype)
    k = torch.exp(-0.5 * (t / radius) ** 2)
    k = k / k.sum()
    x = img.unsqueeze(1)
    x = F.conv2d(F.pad(x, (half, half, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, half, half), mode="replicate"), k.view(1, 1, -1, 1))
    return x.squeeze(1)


def _rand() -> float:
    """Return a uniform draw from torch's global generator (seeded per DataLoader worker)."""
    return float(torch.rand(()).item())


def _randint(low: int, high: int) -> int:
    """Return a uniform integer in ``[low, high)`` from torch's global generator."""
    return int(torch.randint(low, high, ()).item())


def _default_reader() -> AudioReader:
    from opso.adapters.soundfile_io import SoundfileAudioIO

    return SoundfileAudioIO()


class AudioClipDataset(Dataset[dict[str, torch.Tensor]]):
    """Labelled clips -> ``{"X": (C, H, W), "y": targets}`` for :func:`train`.

    Each clip is read (its window only), resampled, cut or looped to the preprocessing's
    clip length -- at a random start when ``random_start`` (training), else from the start
    -- and turned into an image by :class:`SpectrogramInput`.

    Parameters
    ----------
    clips
        The labelled clips.
    classes
        Class names, in target order.
    preprocessing
        The model's preprocessing.
    multi_target
        ``"y"`` is the (n_classes,) float 0/1 vector; else the (1,) long class index.
    random_start
        Take a random window of files longer than a clip.
    reader
        Audio reader (default: soundfile).
    """

    def __init__(
        self,
        clips: Sequence[LabelledClip],
        *,
        classes: Sequence[str],
        preprocessing: Preprocessing,
        multi_target: bool = False,
        random_start: bool = False,
        reader: AudioReader | None = None,
    ) -> None:
        self.clips = list(clips)
        self.classes = list(classes)
        self.preprocessing = preprocessing
        self.multi_target = multi_target
        self.random_start = random_start
        self.reader = reader if reader is not None else _default_reader()
        self.input = SpectrogramInput(preprocessing)
        self.paths = [c.source for c in self.clips]
        for c in self.clips:
            if len(c.targets) != len(self.classes):
                raise LabelTableError(
                    f"{c.source}: {len(c.targets)} targets for {len(self.classes)} classes"
                )
            if not multi_target and sum(c.targets) != 1:
                raise LabelTableError(
                    f"{c.source}: a single-target clip needs exactly one class, got {c.targets}"
                )

    def __len__(self) -> int:
        return len(self.clips)

    def waveform(self, i: int) -> NDArray[np.float32]:
        """Return clip ``i``'s samples, exactly one clip long."""
        c = self.clips[i]
        p = self.preprocessing
        duration = None if c.end_time is None else c.end_time - (c.start_time or 0.0)
        audio = self.reader.read(
            c.source, sample_rate=p.sample_rate, offset=c.start_time or 0.0, duration=duration
        )
        samples = audio.samples
        n = p.clip_samples
        start = _randint(0, len(samples) - n + 1) if self.random_start and len(samples) > n else 0
        return fixed_length(samples, n, start=start)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.input(torch.from_numpy(np.array(self.waveform(i)))[None])[0]
        targets = self.clips[i].targets
        if self.multi_target:
            y = torch.tensor(targets, dtype=torch.float32)
        else:
            y = torch.tensor([int(np.argmax(targets))], dtype=torch.long)
        return {"X": x, "y": y}


class SingleTargetAudioDataset(Dataset[dict[str, torch.Tensor]]):
    """Single-target audio -> spectrogram-image dataset (the spec's ``datasets`` class).

    Given a DataFrame with audio files in ``filename_column``, yield
    ``{"X": (3, height, width) float, "y": (1,) long}`` (``"y"`` only with a
    ``label_column``). Augmentations: ``add_noise`` (random translation and brightness /
    contrast jitter of the image), ``random_trim_length`` (a random window of each file) and
    overlays (each of ``max_overlay_num`` draws, independently with ``overlay_prob``, blends
    in a blurred image of another file with weight ``overlay_weight``).

    Parameters
    ----------
    df
        Table of samples.
    label_dict
        ``{numeric label: class name}``, or None to keep numeric labels.
    filename_column
        Column holding the audio (or image, with ``from_audio=False``) paths.
    from_audio
        Files are audio; False reads spectrogram images instead.
    label_column
        Column with each sample's numeric label (or class name, mapped through
        ``label_dict``); None for prediction.
    height, width
        Output image size.
    add_noise
        Apply the random image jitter.
    save_dir
        Also save each image (before normalisation) as PNG in this folder.
    random_trim_length
        Seconds to extract at a random start (None: the whole file).
    extend_short_clips
        Loop files shorter than a trim or overlay length instead of raising.
    max_overlay_num, overlay_prob, overlay_weight, overlay_class
        Overlay augmentation: at most ``max_overlay_num`` overlays, each drawn with
        probability ``overlay_prob``; weight ``"random"`` (0.2, 0.3 or 0.4) or a float in
        (0, 1); ``overlay_class`` ``"different"`` or a label to draw overlays from.
    audio_sample_rate
        Resample audio to this rate (None: each file's own).
    debug
        Folder to save each returned tensor as PNG, or None.
    preprocessing
        Window, decibel limits and band of the spectrogram (height, width and sample rate
        come from the arguments above).
    reader
        Audio reader (default: soundfile).

    Raises
    ------
    ValueError
        If the overlay settings are inconsistent.
    LabelTableError
        If the table is empty, lacks a named column, or a label is not in ``label_dict``.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        label_dict: Mapping[Any, Any] | None,
        filename_column: str = "Destination",
        from_audio: bool = True,
        label_column: str | None = None,
        height: int = 224,
        width: int = 224,
        add_noise: bool = False,
        save_dir: str | Path | None = None,
        random_trim_length: float | None = None,
        extend_short_clips: bool = False,
        max_overlay_num: int = 0,
        overlay_prob: float = 0.2,
        overlay_weight: float | str = "random",
        overlay_class: Any = None,
        audio_sample_rate: int | None = 22050,
        debug: str | Path | None = None,
        *,
        preprocessing: Preprocessing | None = None,
        reader: AudioReader | None = None,
    ) -> None:
        if len(df) == 0:
            raise LabelTableError("the dataset table is empty")
        for col in (filename_column, label_column):
            if col is not None and col not in df.columns:
                raise LabelTableError(f"the dataset table has no column {col!r}")
        if overlay_weight != "random" and not (
            isinstance(overlay_weight, float | int) and 0 < overlay_weight < 1
        ):
            raise ParameterError(
                f"overlay_weight must be 'random' or in (0, 1), got {overlay_weight!r}"
            )
        if max_overlay_num > 0 and label_column is None:
            raise ParameterError("label_column must be given to use max_overlay_num > 0")
        if max_overlay_num > 0 and overlay_class is None:
            raise ParameterError(
                "overlay_class must be given ('different' or a label) for overlays"
            )
        if not 0 <= overlay_prob <= 1:
            raise ParameterError(f"overlay_prob must be in [0, 1], got {overlay_prob!r}")
        self.df = df.reset_index(drop=True)
        self.label_dict = dict(label_dict) if label_dict is not None else None
        self.filename_column = filename_column
        self.from_audio = from_audio
        self.label_column = label_column
        self.height = int(height)
        self.width = int(width)
        self.add_noise = add_noise
        self.save_dir = None if save_dir is None else Path(save_dir)
        self.random_trim_length = random_trim_length
        self.extend_short_clips = extend_short_clips
        self.max_overlay_num = int(max_overlay_num)
        self.overlay_prob = float(overlay_prob)
        self.overlay_weight = overlay_weight
        self.overlay_class = overlay_class
        self.audio_sample_rate = audio_sample_rate
        self.debug = None if debug is None else Path(debug)
        self.reader = reader if reader is not None else _default_reader()
        base = preprocessing if preprocessing is not None else Preprocessing()
        self._base = base
        self._inputs: dict[int, SpectrogramInput] = {}
        self.labels: list[int] | None = None
        if label_column is not None:
            self.labels = [self._numeric(v, i) for i, v in enumerate(self.df[label_column])]
        if self.max_overlay_num > 0 and overlay_class != "different":
            target = self._numeric(overlay_class, -1)
            if self.labels is None or target not in self.labels:
                raise ParameterError(
                    f"overlay_class {overlay_class!r} is neither 'different' nor a label "
                    "in the table"
                )

    def _numeric(self, value: Any, row: int) -> int:
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            if self.label_dict is not None and int(value) not in self.label_dict:
                raise LabelTableError(
                    f"row {row}: label {value!r} is not in label_dict {self.label_dict!r}"
                )
            return int(value)
        if self.label_dict is not None:
            names = {v: k for k, v in self.label_dict.items()}
            if value in names:
                return int(names[value])
        raise LabelTableError(
            f"row {row}: label {value!r} is not a numeric label or a class of label_dict"
        )

    @property
    def classes(self) -> list[Any] | None:
        """Class names in label order (from ``label_dict``), or None."""
        if self.label_dict is None:
            return None
        return [self.label_dict[k] for k in sorted(self.label_dict)]

    def __len__(self) -> int:
        return len(self.df)

    def _input(self, sample_rate: int) -> SpectrogramInput:
        if sample_rate not in self._inputs:
            from dataclasses import replace

            pre = replace(
                self._base,
                sample_rate=sample_rate,
                height=self.height,
                width=self.width,
                channels=3,
                bandpass=self._base.bandpass
                if self._base.bandpass is None or self._base.bandpass[1] <= sample_rate / 2
                else None,
            )
            self._inputs[sample_rate] = SpectrogramInput(pre)
        return self._inputs[sample_rate]

    def _path(self, i: int) -> Path:
        return Path(str(self.df[self.filename_column].iloc[i]))

    def _read(self, path: Path) -> tuple[NDArray[np.float32], int]:
        audio = self.reader.read(path, sample_rate=self.audio_sample_rate)
        return audio.samples, audio.sample_rate

    def _trim(self, samples: NDArray[np.float32], n: int, path: Path) -> NDArray[np.float32]:
        if len(samples) < n:
            if not self.extend_short_clips:
                raise ClassifierInputError(
                    f"{path}: {len(samples)} samples, shorter than the {n} needed; "
                    "pass extend_short_clips=True to loop it"
                )
            return fixed_length(samples, n)
        return fixed_length(samples, n, start=_randint(0, len(samples) - n + 1))

    def _image_from_file(self, path: Path) -> torch.Tensor:
        from opso.adapters.torch_prediction import ImageDataset

        x = ImageDataset([path], (self.height, self.width))[0]["X"]
        return (x[0] * 0.5 + 0.5)[None]

    def _image(self, samples: NDArray[np.float32], sample_rate: int) -> torch.Tensor:
        """Return the 0-1 grey image [shape=(1, height, width)] of a waveform."""
        return self._input(sample_rate).images(torch.from_numpy(np.array(samples))[None])

    def image_from_audio(self, audio: Audio, mode: str = "RGB") -> PIL.Image.Image:
        """Create a Pillow image (loud is dark, low frequencies at the bottom) from audio.

        Parameters
        ----------
        audio
            The clip; its spectrogram is computed at the clip's own sample rate.
        mode
            Pillow image mode, e.g. ``"L"`` or ``"RGB"``.
        """
        from torchvision.transforms.functional import to_pil_image

        image: PIL.Image.Image = to_pil_image(self._image(audio.samples, audio.sample_rate), "L")
        return image.convert(mode)

    def overlay_random_image(
        self,
        original_image: torch.Tensor,
        original_length: float,
        original_class: Any,
        original_path: str | Path,
    ) -> torch.Tensor:
        """Blend the spectrogram of another sample onto an image.

        The other sample is drawn from a different class than ``original_class`` (when
        ``overlay_class="different"``) or from ``overlay_class``, never from
        ``original_path``; its audio is cut (or looped, with ``extend_short_clips``) to
        ``original_length`` seconds and its image, slightly blurred, is weighted by
        ``overlay_weight`` (random in [0.2, 0.5) when ``"random"``).

        Parameters
        ----------
        original_image
            0-1 grey image [shape=(1, height, width)].
        original_length
            Length in seconds of the original sample's audio.
        original_class
            Label of the original sample (numeric, or a class name of ``label_dict``).
        original_path
            The original sample's file.

        Raises
        ------
        ValueError
            If the dataset has no labels.
        ClassifierInputError
            If no sample qualifies to be overlaid.
        """
        if self.labels is None:
            raise ParameterError("overlays need a label_column")
        own = self._numeric(original_class, -1)
        if self.overlay_class == "different":
            wanted = [lab != own for lab in self.labels]
        else:
            target = self._numeric(self.overlay_class, -1)
            wanted = [lab == target for lab in self.labels]
        pool = [j for j, ok in enumerate(wanted) if ok and self._path(j) != Path(original_path)]
        if not pool:
            raise ClassifierInputError(
                f"{original_path}: no sample to overlay from ({self.overlay_class})"
            )
        path = self._path(pool[_randint(0, len(pool))])
        samples, sr = self._read(path)
        samples = self._trim(samples, round(original_length * sr), path)
        other = _gaussian_blur(self._image(samples, sr), _randint(0, 8) / 10)
        weight = (
            _randint(2, 5) / 10 if self.overlay_weight == "random" else float(self.overlay_weight)
        )
        return (1 - weight) * original_image + weight * other

    def _jitter(self, image: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms import v2

        t = v2.Compose(
            [
                v2.RandomAffine(degrees=0, translate=(0.2, 0.03), fill=50 / 255),
                v2.ColorJitter(brightness=0.3, contrast=0.3),
            ]
        )
        out: torch.Tensor = t(image)
        return out.clamp(0, 1)

    def _save(self, folder: Path, i: int, image: torch.Tensor) -> None:
        from torchvision.utils import save_image

        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / f"{self._path(i).stem}_{i}.png") as tmp:
            save_image(image, tmp)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        path = self._path(i)
        if self.from_audio:
            samples, sr = self._read(path)
            if self.random_trim_length is not None:
                samples = self._trim(samples, round(self.random_trim_length * sr), path)
            image = self._image(samples, sr)
            for _ in range(self.max_overlay_num):  # every overlay is its own draw
                if _rand() < self.overlay_prob:
                    label = None if self.labels is None else self.labels[i]
                    image = self.overlay_random_image(image, len(samples) / sr, label, path)
        else:
            image = self._image_from_file(path)
        if self.add_noise:
            image = self._jitter(image)
        if self.save_dir is not None:
            self._save(self.save_dir, i, image)
        x = ((image - 0.5) / 0.5).expand(3, -1, -1).contiguous()
        if self.debug is not None:
            self._save(self.debug, i, x * 0.5 + 0.5)
        if self.labels is None:
            return {"X": x}
        return {"X": x, "y": torch.tensor([self.labels[i]], dtype=torch.long)}
