"""Fixtures shared by the integration tests of BirdNET and heads on its embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers

import opso
from opso.adapters.litert_birdnet import LiteRTModelStore
from opso.container import Container
from opso.pretrained import PretrainedDetector


@pytest.fixture(scope="session")
def birdnet() -> PretrainedDetector:
    """BirdNET loaded once for the session."""
    model = opso.load_model("birdnet")
    assert isinstance(model, PretrainedDetector)
    return model


@pytest.fixture(scope="module")
def birdnet_container(birdnet: PretrainedDetector) -> Iterator[Container]:
    """A container whose store hands out the session's loaded BirdNET."""

    class Store(LiteRTModelStore):
        def load(self, model: str | Path, *, labels: Path | None = None) -> object:  # type: ignore[override]
            return birdnet.model if str(model) == "birdnet" else super().load(model, labels=labels)

    c = Container()
    c.pretrained_store.override(providers.Object(Store()))
    yield c
    c.pretrained_store.reset_override()
