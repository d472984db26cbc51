"""Which epoch becomes model.opso, and what a lighter checkpoint holds."""

from pathlib import Path

import pytest
import torch
from torch import nn

from opso.adapters.torch_training import train
from opso.domain.classifier import EpochSummary, TrainReport, choose_best_epoch
from opso.domain.errors import ParameterError
from tests.unit.test_train_loop import Blobs, tiny_cnn


def summaries(*valid_losses: float) -> list[EpochSummary]:
    return [
        EpochSummary(epoch=i, train_loss=1.0, train_accuracy=0.5, valid_loss=v, valid_accuracy=0.5)
        for i, v in enumerate(valid_losses, start=1)
    ]


@pytest.mark.parametrize(
    ("losses", "best"),
    [
        ((0.9, 0.4, 0.7), 2),  # a later epoch is worse: the earlier, better one is chosen
        ((0.9, 0.5, 0.5, 0.8), 2),  # ties go to the earlier epoch
        ((0.3,), 1),
        ((float("nan"), 0.6, float("inf"), 0.7), 2),  # non-finite losses are never best
        ((float("nan"), float("nan")), 2),  # all non-finite: the last epoch
    ],
)
def test_choose_best_epoch_takes_the_lowest_validation_loss(
    losses: tuple[float, ...], best: int
) -> None:
    assert choose_best_epoch(summaries(*losses)).epoch == best


def test_choose_best_epoch_needs_an_epoch() -> None:
    with pytest.raises(ParameterError, match="no epochs"):
        choose_best_epoch([])


def test_train_report_names_the_best_epoch_summary() -> None:
    epochs = summaries(0.9, 0.4, 0.7)
    report = TrainReport(Path("model.opso"), [], epochs, best_epoch=2)
    assert report.best is epochs[1]
    assert TrainReport(Path("model.opso"), [], epochs).best is None


def test_checkpoints_without_optimizer_state_hold_the_weights_once(tmp_path: Path) -> None:
    sizes = {}
    for save_optimizer in (True, False):
        model = tiny_cnn()
        paths = train(
            tmp_path / str(save_optimizer),
            model,
            Blobs(8),
            Blobs(4),
            torch.optim.Adam(model.parameters(), lr=0.01),
            nn.CrossEntropyLoss(),
            epochs=1,
            batch_size=4,
            print_logging=False,
            save_optimizer=save_optimizer,
        )
        ck = torch.load(paths[0], weights_only=True)
        assert ("optimizer_state_dict" in ck) is save_optimizer
        assert set(ck["model_state_dict"]) == set(model.state_dict())
        sizes[save_optimizer] = paths[0].stat().st_size
    weight_bytes = sum(v.numel() * v.element_size() for v in tiny_cnn().state_dict().values())
    # Adam keeps two moments per weight: the spec's checkpoint carries them, the light one not
    assert sizes[True] - sizes[False] >= 2 * weight_bytes
