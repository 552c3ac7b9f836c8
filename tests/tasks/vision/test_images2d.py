"""2-D image tasks (`fashion-mnist-2d`, `cifar10-2d`) on small files written in the official formats: pictures
normalised per channel, torchvision's crop and flip in training only (each can be switched off), and timm's mixup,
CutMix and label smoothing of training batches: soft targets that sum to 1, and odd batches that keep every
example."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from timm.data.mixup import mixup_target
from zoo.tasks import get_task
from zoo.tasks.vision.mixing import BatchMixer

from tests.tasks.lra.files_image import write_cifar, write_fashion_mnist

FASHION = (0.2860, 0.3530)
CIFAR = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
# float32 normalisation (torchvision's, x / 255 then (x - mean) / std) against float64: worst error 4.9e-7 over 100
# seeds (values up to 2.8, a few float32 roundings)
NORMALISED = 1.5e-6
# mixed images and soft targets in float32 against float64 recomputations: worst error 2.7e-7 over 100 seeds
MIXED = 1e-6


def datamodule(name: str, folder, **fields):
    config_cls, datamodule_cls = get_task(name)
    dm = datamodule_cls(config_cls(data_dir=str(folder), batch_size=4, **fields))
    dm.setup()
    return dm


def normalised(pixels: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 `[..., C, H, W]` -> float64 `(x / 255 - mean_c) / std_c`."""
    shape = (-1, 1, 1)
    mean, std = torch.tensor(mean, dtype=torch.float64).view(shape), torch.tensor(std, dtype=torch.float64).view(shape)
    return (pixels.double() / 255 - mean) / std


def test_registered_names_io_and_defaults():
    for name, channels, side in (("fashion-mnist-2d", 1, 28), ("cifar10-2d", 3, 32)):
        config_cls, datamodule_cls = get_task(name)
        config = config_cls()
        assert config.name == name and config.crop_padding == 4 and config.flip and config.batch_size == 128
        assert config.mixup_alpha == config.cutmix_alpha == config.label_smoothing == 0 and config.max_train == 0
        io = datamodule_cls(config).io
        assert (io.inputs, io.outputs, io.channels, io.image_size, io.num_outputs) == ("image", "classifier",
                                                                                         channels, side, 10)
    for field, value in (("crop_padding", -1), ("mixup_alpha", -0.5), ("cutmix_alpha", -1.0),
                         ("label_smoothing", 1.0), ("max_train", -3)):
        with pytest.raises(ValueError, match=field):
            get_task("cifar10-2d")[0](**{field: value})


def test_pictures_are_normalised_per_channel_and_split(tmp_path, seed, bound):
    fashion = datamodule("fashion-mnist-2d", write_fashion_mnist(tmp_path / "fashion", seed % 2**32))
    assert {split: len(data) for split, data in fashion.datasets.items()} == {"train": 108, "val": 12, "test": 20}
    batch = next(iter(fashion.val_dataloader()))
    assert batch["inputs"].shape == (4, 1, 28, 28) and batch["inputs"].dtype == torch.float32
    pictures = fashion.datasets["val"].images.pixels[:4]
    bound((batch["inputs"] - normalised(pictures, (FASHION[0],), (FASHION[1],))).abs().max(), NORMALISED,
          "Fashion-MNIST normalisation")
    cifar = datamodule("cifar10-2d", write_cifar(tmp_path / "cifar", seed % 2**32))
    assert {split: len(data) for split, data in cifar.datasets.items()} == {"train": 90, "val": 10, "test": 20}
    batch = next(iter(cifar.test_dataloader()))
    assert batch["inputs"].shape == (4, 3, 32, 32) and batch["targets"].dtype == torch.long
    bound((batch["inputs"] - normalised(cifar.datasets["test"].images.pixels[:4], *CIFAR)).abs().max(), NORMALISED,
          "CIFAR-10 normalisation")
    assert "CIFAR-10 as 3x32x32 images (training: random crop with padding 4, horizontal flip)" == cifar.description


def test_training_crops_and_flips_only_when_asked(tmp_path, seed):
    folder = write_fashion_mnist(tmp_path, seed % 2**32, train=20, test=4)
    plain = datamodule("fashion-mnist-2d", folder, crop_padding=0, flip=False)
    train, evaluate = plain.datasets["train"], plain.datasets["val"].transform  # evaluation: normalisation only
    for index in range(len(train)):
        assert torch.equal(train[index]["inputs"], evaluate(train.images.pixels[index]))
    assert "no augmentation" in plain.description
    augmented = datamodule("fashion-mnist-2d", folder, crop_padding=2, flip=True).datasets["train"]
    padded = torch.nn.functional.pad(train.images.pixels, (2, 2, 2, 2))  # torchvision pads the uint8 picture with 0
    seen = set()
    for index in range(len(train)):
        item = augmented[index]["inputs"]
        crops = {(dy, dx, flip): padded[index, :, dy:dy + 28, dx:dx + 28] for dy in range(5) for dx in range(5)
                 for flip in (False, True)}
        matches = [key for key, crop in crops.items() if torch.equal(item, evaluate(crop.flip(-1) if key[2] else crop))]
        assert matches, f"item {index} is no crop of its padded picture (seed {seed})"
        seen.update(matches)
    assert len(seen) > 1, f"every crop the same (seed {seed})"


@pytest.mark.parametrize("size", [7, 8, 1])
def test_mixup_gives_soft_targets_summing_to_one_and_keeps_every_example(size, seed, bound):
    inputs = torch.randn(size, 1, 6, 6)
    targets = torch.randint(0, 10, (size,))
    original = inputs.clone()
    mixed = BatchMixer(10, mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.1)(
        {"inputs": inputs, "targets": targets, "lengths": torch.ones(size)})
    soft, images = mixed["targets"], mixed["inputs"]
    assert soft.shape == (size, 10) and soft.dtype == torch.float32 and images.shape == original.shape
    assert "lengths" in mixed and (soft >= 0).all()
    bound((soft.double().sum(-1) - 1).abs().max(), MIXED, "soft targets sum to 1")
    even = size - size % 2
    if size % 2:  # the last example unmixed, its label smoothed alone
        assert torch.equal(images[-1], original[-1])
        torch.testing.assert_close(soft[-1], mixup_target(targets[-1:], 10, 1.0, 0.1)[0], rtol=0, atol=0)
    if even:  # mixup of the even part: x_i lam + x_{even-1-i} (1 - lam), targets alike
        first, partner = original[:even].double(), original[:even].flip(0).double()
        lam = ((images[:even].double() - partner) * (first - partner)).sum() / (first - partner).square().sum()
        bound((images[:even].double() - (lam * first + (1 - lam) * partner)).abs().max(), MIXED, "mixed images")
        expected = lam * mixup_target(targets[:even], 10, 1.0, 0.1).double() + (1 - lam) * mixup_target(
            targets[:even].flip(0), 10, 1.0, 0.1).double()
        bound((soft[:even].double() - expected).abs().max(), MIXED, "mixed targets")


def test_cutmix_and_smoothing_alone_and_nothing_when_off(seed, bound):
    batch = {"inputs": torch.randn(5, 3, 8, 8), "targets": torch.randint(0, 4, (5,))}
    cut = BatchMixer(4, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)(dict(batch))
    bound((cut["targets"].double().sum(-1) - 1).abs().max(), MIXED, "CutMix targets sum to 1")
    assert torch.equal(cut["targets"][-1], torch.nn.functional.one_hot(batch["targets"][-1], 4).float())
    targets = torch.randint(0, 4, (3,))
    smoothed = BatchMixer(4, 0.0, 0.0, 0.2)({"inputs": torch.zeros(3, 1, 2, 2), "targets": targets})["targets"]
    torch.testing.assert_close(smoothed, mixup_target(targets, 4, 1.0, 0.2), rtol=0, atol=0)
    off = BatchMixer(4, 0.0, 0.0, 0.0)
    untouched = {"inputs": torch.randn(3, 1, 2, 2), "targets": targets}
    assert not off.enabled and off(untouched) is untouched


def test_batches_are_mixed_in_training_only(tmp_path, seed):
    folder = write_fashion_mnist(tmp_path, seed % 2**32, train=40, test=4)  # 4 validation images
    dm = datamodule("fashion-mnist-2d", folder, mixup_alpha=0.4, label_smoothing=0.1)
    assert "mixup 0.4" in dm.description and "label smoothing 0.1" in dm.description
    for training in (True, False):
        dm.trainer = SimpleNamespace(training=training)
        batch = next(iter(dm.val_dataloader()))
        targets = dm.on_after_batch_transfer(batch, 0)["targets"]
        assert targets.shape == ((4, 10) if training else (4,)), f"training={training}"
