"""A full disk, a quota, a read-only or forbidden folder: typed errors naming the output.

The operating system's errors are simulated (tests run as root, who ignores permissions, and
cannot fill a disk safely): ``Path.open`` or ``Path.replace`` raise the ``OSError`` the system
would, for the outputs a test picks.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import opso
from opso.adapters.atomic import atomic_path, write_text_atomic
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.cli import main
from opso.domain.audio import Audio
from opso.domain.errors import AudioReadError, OpsoError, OutputWriteError

REASONS = [
    (errno.ENOSPC, "no space left on device"),
    (errno.EDQUOT, "disk quota exceeded"),
    (errno.EACCES, "permission denied"),
    (errno.EPERM, "permission denied"),
    (errno.EROFS, "read-only file system"),
]


def failing_writes(
    monkeypatch: pytest.MonkeyPatch, code: int, *, when: Callable[[Path], bool] = lambda p: True
) -> None:
    """Make every ``Path.open`` for writing (and so ``write_text``/``write_bytes``) fail."""
    real_open = Path.open

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(m in mode for m in "wxa") and when(self):
            raise OSError(code, os.strerror(code), str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)


@pytest.mark.parametrize(("code", "reason"), REASONS)
def test_atomic_write_failure_names_the_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old rows\n")
    failing_writes(monkeypatch, code)
    with pytest.raises(OutputWriteError) as caught:
        write_text_atomic(target, "new rows\n")
    assert str(caught.value) == f"{reason} writing {target}"
    assert caught.value.errno == code
    assert isinstance(caught.value, OSError) and isinstance(caught.value, OpsoError)
    assert target.read_text() == "old rows\n"  # untouched, and no temporary file left
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_failed_rename_is_reported_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def replace(self: Path, target: Any) -> Path:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "replace", replace)
    target = tmp_path / "out.txt"
    with pytest.raises(OutputWriteError, match=f"^permission denied writing {target}$"):
        write_text_atomic(target, "x")
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_pass_unchanged(tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught, atomic_path(tmp_path / "x.bin"):
        raise OSError(errno.EIO, "Input/output error")
    assert type(caught.value) is OSError and caught.value.errno == errno.EIO
    other = tmp_path / "input.parquet"  # reading another file is not writing the output
    with pytest.raises(PermissionError) as denied, atomic_path(tmp_path / "x.bin"):
        raise PermissionError(errno.EACCES, "Permission denied", str(other))
    assert not isinstance(denied.value, OutputWriteError)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "a"))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    target = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(OutputWriteError, match=f"^permission denied writing {target}$"):
        write_text_atomic(target, "x")


def test_audio_save_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "clip.wav"
    target.write_bytes(b"old clip")
    failing_writes(monkeypatch, errno.ENOSPC)
    audio = opso.Audio(np.zeros(800, dtype=np.float32), 8000)
    with pytest.raises(OutputWriteError, match=f"^no space left on device writing {target}$"):
        audio.save(target)
    assert target.read_bytes() == b"old clip"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.wav"]


def test_cli_split_reports_a_clip_that_does_not_fit_and_carries_on(
    birds_10s: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "clips"
    failing_writes(monkeypatch, errno.ENOSPC, when=lambda p: p.suffix == ".wav")
    args = ["split", str(birds_10s), "-o", str(out), "--clip-duration", "5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    clip = out / "birds_10s_0s_5s.wav"
    assert f"error: {birds_10s}: no space left on device writing {clip}" in result.output
    assert "Traceback" not in result.output and "System error" not in result.output
    assert [p.name for p in out.iterdir()] == ["clips.csv"]  # the table of what was written


def test_cli_split_on_a_full_disk_names_the_clip_table(
    birds_10s: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "clips"
    failing_writes(monkeypatch, errno.ENOSPC, when=lambda p: p.name.startswith(".clips.csv"))
    args = ["split", str(birds_10s), "-o", str(out), "--clip-duration", "5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: no space left on device writing {out / 'clips.csv'}"
    )
    assert sorted(p.name for p in out.iterdir()) == ["birds_10s_0s_5s.wav", "birds_10s_5s_10s.wav"]


def test_cli_runs_export_to_a_read_only_folder(
    oss_audio: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    args = ["runs", "levels", str(oss_audio / "silence_10s.mp3"), "--run-dir", str(run_dir)]
    done = CliRunner().invoke(main, [*args, "--clip-duration", "5", "--workers", "0"])
    assert done.exit_code == 0, done.output
    export = tmp_path / "export" / "levels.csv"
    failing_writes(monkeypatch, errno.EROFS, when=lambda p: p.parent == export.parent)
    result = CliRunner().invoke(main, ["runs", "export", str(run_dir), str(export)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: read-only file system writing {export}"
    )
    assert list(export.parent.iterdir()) == []


def test_permission_denied_reading_names_the_file(
    birds_10s: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(os.fsdecode(path)) == birds_10s:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    with pytest.raises(AudioReadError, match=f"^permission denied reading {birds_10s}$"):
        SoundfileAudioIO().read(birds_10s)
    with pytest.raises(AudioReadError, match="permission denied"):
        SoundfileAudioIO().info(birds_10s)
    result = CliRunner().invoke(
        main, ["split", str(birds_10s), "-o", str(tmp_path / "c"), "--clip-duration", "5"]
    )
    assert result.exit_code == 1
    assert f"permission denied reading {birds_10s}" in result.output
    assert "System error" not in result.output


def test_writes_still_work(tmp_path: Path) -> None:
    SoundfileAudioIO().write(Audio(np.full(800, 0.25), 8000), tmp_path / "a" / "x.flac")
    assert SoundfileAudioIO().read(tmp_path / "a" / "x.flac").duration() == 0.1


def test_cli_predict_on_a_full_disk_names_the_score_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from opso.adapters.torch_models import build_architecture, save_model
    from opso.domain.classifier import ModelConfig, Preprocessing

    pre = Preprocessing(sample_rate=8000, clip_duration=1.0, height=32, width=48)
    torch.manual_seed(0)
    config = ModelConfig(architecture="resnet18", classes=("a", "b"), preprocessing=pre)
    model = save_model(build_architecture("resnet18", 2), config, tmp_path / "m.opso")
    recording = tmp_path / "rec.wav"
    SoundfileAudioIO().write(Audio(np.full(16000, 0.1), 8000), recording)
    table = tmp_path / "out" / "scores.csv"
    failing_writes(monkeypatch, errno.ENOSPC, when=lambda p: p.parent == table.parent)
    args = ["predict", str(model), str(recording), "-o", str(table), "--backend", "eager"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: no space left on device writing {table}"
    )
    assert list(table.parent.iterdir()) == []
