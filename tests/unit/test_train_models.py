from pathlib import Path

import pytest
import torch

from opso.adapters.torch_models import (
    build_architecture,
    load_model,
    penultimate_features,
    save_model,
)
from opso.domain.classifier import ModelConfig, Preprocessing
from opso.domain.errors import ModelFileError

CFG = ModelConfig(
    architecture="mobilenet_v3_small",
    classes=("B32", "SW83"),
    preprocessing=Preprocessing(height=64, width=64, clip_duration=2.0),
)


@pytest.mark.parametrize(
    ("name", "features"),
    [
        ("resnet18", 512),
        ("resnet34", 512),
        ("resnet50", 2048),
        ("efficientnet_b0", 1280),
        ("mobilenet_v3", 1280),
        ("mobilenet_v3_small", 1024),
    ],
)
def test_architectures_by_name(name: str, features: int) -> None:
    model = build_architecture(name, 3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert model(x).shape == (2, 3)
        assert penultimate_features(model, x).shape == (2, features)


def test_unknown_architecture() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_architecture("alexnet", 2)


def test_local_weights_file_is_used_and_head_replaced(tmp_path: Path) -> None:
    source = build_architecture("resnet18", 1000)
    path = tmp_path / "imagenet.pth"
    torch.save(source.state_dict(), path)
    model = build_architecture("resnet18", 4, weights=path)
    state = model.state_dict()
    assert torch.equal(state["conv1.weight"], source.state_dict()["conv1.weight"])
    assert state["fc.weight"].shape == (4, 512)
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ModelFileError, match="do not fit"):
        build_architecture("resnet18", 4, weights=tmp_path / "bad.pth")


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = build_architecture(CFG.architecture, 2).eval()
    path = save_model(model, CFG, tmp_path / "m.opso")
    loaded, cfg = load_model(path)
    assert cfg == CFG
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"format", "config", "state_dict", "sha256"}


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_file_with_code_is_refused_without_running_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "evil.opso"
    torch.save({"format": "opso-model", "payload": Evil()}, path)
    with pytest.raises(ModelFileError, match="tampered"):
        load_model(path)
    assert "pwned" not in capsys.readouterr().out


def test_modified_weights_fail_the_checksum(tmp_path: Path) -> None:
    model = build_architecture(CFG.architecture, 2)
    path = save_model(model, CFG, tmp_path / "m.opso")
    raw = torch.load(path, weights_only=True)
    name = next(iter(raw["state_dict"]))
    raw["state_dict"][name] = raw["state_dict"][name] + 1
    torch.save(raw, path)
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


def test_non_opso_files_are_clear_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.opso"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match=r"not a readable model file|refused"):
        load_model(text)
    plain = tmp_path / "weights.pth"
    torch.save(build_architecture("mobilenet_v3_small", 2).state_dict(), plain)
    with pytest.raises(ModelFileError, match="not an opso model"):
        load_model(plain)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.opso")
    truncated = tmp_path / "cut.opso"
    full = save_model(build_architecture(CFG.architecture, 2), CFG, tmp_path / "full.opso")
    truncated.write_bytes(full.read_bytes()[:5000])
    with pytest.raises(ModelFileError):
        load_model(truncated)
