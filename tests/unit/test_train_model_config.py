import json

import pytest

from opso.domain.classifier import (
    MODEL_FORMAT_VERSION,
    ModelConfig,
    Preprocessing,
    class_targets,
)
from opso.domain.errors import ModelFileError


def _config() -> ModelConfig:
    return ModelConfig(
        architecture="resnet18",
        classes=("a", "b"),
        preprocessing=Preprocessing(sample_rate=16000, clip_duration=2.0, bandpass=(500, 7000)),
    )


def test_json_round_trip_keeps_every_field() -> None:
    cfg = _config()
    back = ModelConfig.from_json(cfg.to_json())
    assert back == cfg
    data = json.loads(cfg.to_json())
    assert data["format"] == "opso-model" and data["format_version"] == MODEL_FORMAT_VERSION


def test_newer_format_and_foreign_json_are_refused() -> None:
    data = _config().to_dict()
    data["format_version"] = MODEL_FORMAT_VERSION + 1
    with pytest.raises(ModelFileError, match="newer"):
        ModelConfig.from_dict(data, source="m.opso")
    with pytest.raises(ModelFileError, match="not an opso model"):
        ModelConfig.from_json('{"hello": 1}', source="m.opso")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        ModelConfig.from_json("{", source="m.opso")


def test_invalid_values_name_the_key() -> None:
    data = _config().to_dict()
    data["preprocessing"]["height"] = -3
    with pytest.raises(ModelFileError, match="height"):
        ModelConfig.from_dict(data)
    data = _config().to_dict()
    del data["classes"]
    with pytest.raises(ModelFileError, match="classes"):
        ModelConfig.from_dict(data)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="architecture"):
        ModelConfig(architecture="vgg99", classes=("a", "b"))
    with pytest.raises(ValueError, match="distinct"):
        ModelConfig(architecture="resnet18", classes=("a", "a"))
    with pytest.raises(ValueError, match="two classes"):
        ModelConfig(architecture="resnet18", classes=("a",))
    assert ModelConfig(architecture="resnet18", classes=("a",), multi_target=True).multi_target
    assert Preprocessing(sample_rate=22050, clip_duration=5).clip_samples == 110250


def test_class_targets() -> None:
    assert class_targets(["b"], ["a", "b", "c"]) == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="not in the class list"):
        class_targets(["z"], ["a", "b"])
