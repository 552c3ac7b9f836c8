"""Sequential image tasks (`smnist`, `smnist-tokens`, `sfashion-mnist`, `sfashion-mnist-tokens`, `scifar10`) on small
files written in the official formats (MNIST's IDX files, CIFAR-10's python batches): row-major pixels, both
encodings, the normalisation of each set, the fixed permutation, the split and `max_train`, and DataErrors that name
the file."""

from __future__ import annotations

import gzip
import pickle

import numpy
import pytest
import torch
from zoo.tasks import DataError, get_task
from zoo.tasks.lra.image import CIFAR_CLASSES, train_val_split
from zoo.tasks.vision.fashion_mnist import FASHION_CLASSES
from zoo.tasks.vision.sequential import PERMUTATION_SEED, pixel_permutation
from zoo.tasks.vision.sources import MNIST_CLASSES

from tests.tasks.lra.files_image import idx_bytes, write_cifar, write_fashion_mnist, write_idx

# float32 values against the float64 formula: the table is the formula rounded to float32 once; the worst error
# over all 256 levels of the three sets' statistics is 1.19e-7 (half an ulp at values up to 2.8): allow one ulp
ULP = 2.4e-7
KINDS = {"smnist": ("channels", MNIST_CLASSES, 1), "smnist-tokens": ("tokens", MNIST_CLASSES, 1),
         "sfashion-mnist": ("channels", FASHION_CLASSES, 1), "sfashion-mnist-tokens": ("tokens", FASHION_CLASSES, 1),
         "scifar10": ("channels", CIFAR_CLASSES, 3)}


def datamodule(name: str, folder, **fields):
    config_cls, datamodule_cls = get_task(name)
    dm = datamodule_cls(config_cls(data_dir=str(folder), batch_size=4, **fields))
    dm.setup()
    return dm


def read_back(folder, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The test's own IDX files read with gzip and numpy: images `[n, 28, 28]`, labels `[n]`."""

    def load(name: str, offset: int) -> numpy.ndarray:
        return numpy.frombuffer(gzip.decompress((folder / name).read_bytes()), dtype=numpy.uint8, offset=offset)

    labels = torch.from_numpy(load(f"{prefix}-labels-idx1-ubyte.gz", 8).copy())
    return torch.from_numpy(load(f"{prefix}-images-idx3-ubyte.gz", 16).copy()).view(-1, 28, 28), labels


def test_registered_names_kinds_and_defaults():
    for name, (inputs, classes, channels) in KINDS.items():
        config_cls, datamodule_cls = get_task(name)
        config = config_cls()
        assert config.name == name and config.split_seed == 42 and config.batch_size == 50
        assert not config.permute and config.permutation_seed == PERMUTATION_SEED == 92916 and config.max_train == 0
        dm = datamodule_cls(config)
        assert (datamodule_cls.inputs, datamodule_cls.outputs) == (inputs, "classifier")
        assert dm.io.labels == classes and dm.io.num_outputs == 10
        assert (dm.io.vocab_size == 256) if inputs == "tokens" else (dm.io.channels == channels)
        assert dm.description.startswith("sequential ") and len(dm.description.splitlines()) == 1


@pytest.mark.parametrize("name", ["smnist", "sfashion-mnist"])
def test_mnist_layouts_read_row_major_split_and_normalise(name, tmp_path, seed, bound):
    folder = write_fashion_mnist(tmp_path, seed % 2**32)  # MNIST's layout: 120 training images, 20 test images
    images, labels = read_back(folder, "train")
    test_images, test_labels = read_back(folder, "t10k")
    values, tokens = datamodule(name, folder), datamodule(f"{name}-tokens", folder)
    assert {split: len(dataset) for split, dataset in values.datasets.items()} == {"train": 108, "val": 12, "test": 20}
    train_indices, val_indices = train_val_split(120, 42)
    val = tokens.datasets["val"]
    for position, index in enumerate(val_indices.tolist()):
        item = val[position]
        assert item["inputs"].dtype == torch.long and torch.equal(item["inputs"], images[index].flatten().long())
        assert item["targets"] == labels[index], f"seed {seed}"
    assert torch.equal(tokens.datasets["train"].images.labels, labels[train_indices].long())
    batch = next(iter(values.test_dataloader()))
    assert batch["inputs"].shape == (4, 784, 1) and batch["inputs"].dtype == torch.float32
    mean, std = (0.1307, 0.3081) if name == "smnist" else (0.2860, 0.3530)
    expected = (test_images[:4].flatten(1).double() / 255 - mean) / std
    bound((batch["inputs"][..., 0].double() - expected).abs().max(), ULP, f"{name} normalisation")
    assert torch.equal(batch["targets"], test_labels[:4].long())
    assert f"(x / 255 - {mean}) / {std}" in values.description and "784 pixels as tokens" in tokens.description


def test_unpacked_files_read_like_gzip_ones(tmp_path, seed):
    packed = write_fashion_mnist(tmp_path / "packed", seed % 2**32, train=10, test=4)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    for path in packed.iterdir():
        (unpacked / path.name.removesuffix(".gz")).write_bytes(gzip.decompress(path.read_bytes()))
    first, second = datamodule("smnist", packed), datamodule("smnist", unpacked)
    for split in ("train", "val", "test"):
        assert torch.equal(first.datasets[split].images.pixels, second.datasets[split].images.pixels), split


def test_permutation_is_fixed_a_bijection_and_the_same_for_every_image(tmp_path, seed):
    order = pixel_permutation(784, PERMUTATION_SEED)
    assert torch.equal(order.sort().values, torch.arange(784)) and not torch.equal(order, torch.arange(784))
    assert torch.equal(order, pixel_permutation(784, PERMUTATION_SEED))
    assert not torch.equal(order, pixel_permutation(784, PERMUTATION_SEED + 1))
    folder = write_fashion_mnist(tmp_path, seed % 2**32, train=30, test=6)
    plain, permuted = datamodule("smnist-tokens", folder), datamodule("smnist-tokens", folder, permute=True)
    for split in ("train", "val", "test"):
        before, after = plain.datasets[split].images, permuted.datasets[split].images
        assert torch.equal(after.pixels, before.pixels[:, order]) and torch.equal(after.labels, before.labels)
    other = datamodule("smnist-tokens", folder, permute=True, permutation_seed=7)
    assert torch.equal(other.datasets["test"].images.pixels, plain.datasets["test"].images.pixels[:, pixel_permutation(
        784, 7)])
    assert "permuted (one fixed pixel order, seed 92916)" in permuted.description


def test_max_train_keeps_the_first_training_images_only(tmp_path, seed):
    folder = write_fashion_mnist(tmp_path, seed % 2**32, train=60, test=6)
    whole, cut = datamodule("smnist", folder), datamodule("smnist", folder, max_train=20)
    assert len(cut.datasets["train"]) == 20 and len(whole.datasets["train"]) == 54
    assert torch.equal(cut.datasets["train"].images.pixels, whole.datasets["train"].images.pixels[:20])
    for split in ("val", "test"):
        assert torch.equal(cut.datasets[split].images.pixels, whole.datasets[split].images.pixels)
    assert len(datamodule("smnist", folder, max_train=1000).datasets["train"]) == 54
    assert "training on the first 20 training images" in cut.description
    with pytest.raises(ValueError, match="max_train must be >= 0"):
        get_task("smnist")[0](max_train=-1)


def test_scifar10_reads_rgb_pixels_row_major_with_per_channel_statistics(tmp_path, seed, bound):
    folder = write_cifar(tmp_path, seed % 2**32)  # 5 x 20 training images, 20 test images
    dm = datamodule("scifar10", folder)
    assert {split: len(dataset) for split, dataset in dm.datasets.items()} == {"train": 90, "val": 10, "test": 20}
    rows = torch.from_numpy(pickle.loads((folder / "cifar-10-batches-py" / "test_batch").read_bytes(),
                                         encoding="bytes")[b"data"].copy())
    batch = next(iter(dm.test_dataloader()))
    assert batch["inputs"].shape == (4, 1024, 3) and batch["inputs"].dtype == torch.float32
    planes = rows[:4].view(4, 3, 1024).double() / 255  # R, G, B planes of 32 x 32, row-major
    mean = torch.tensor((0.4914, 0.4822, 0.4465), dtype=torch.float64)[:, None]
    std = torch.tensor((0.2470, 0.2435, 0.2616), dtype=torch.float64)[:, None]
    expected = ((planes - mean) / std).transpose(1, 2)
    bound((batch["inputs"].double() - expected).abs().max(), ULP, "CIFAR-10 normalisation")
    assert "mean (0.4914, 0.4822, 0.4465)" in dm.description


def test_missing_and_malformed_files_are_named(tmp_path, seed):
    with pytest.raises(DataError, match="MNIST file not found.*not available offline") as error:
        datamodule("smnist", tmp_path)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(error.value)
    folder = write_fashion_mnist(tmp_path, seed % 2**32, train=6, test=4)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, numpy.array([0, 1, 10, 2], dtype=numpy.uint8))
    with pytest.raises(DataError, match="label 10 is not a class id 0-9") as error:
        datamodule("sfashion-mnist", folder)
    assert str(labels) in str(error.value)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(numpy.zeros(3, dtype=numpy.uint8)))
    labels.unlink()  # the unpacked file is read now: 3 labels for 4 images
    with pytest.raises(DataError, match="holds 4 images but .* holds 3 labels") as error:
        datamodule("smnist-tokens", folder)
    assert str(folder / "t10k-labels-idx1-ubyte") in str(error.value)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="Fashion-MNIST file not found.*zoo data prepare lra/image-standin"):
        datamodule("sfashion-mnist", folder)
