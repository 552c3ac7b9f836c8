"""LRA Image (`lra-image`, `lra-image-values`: CIFAR-10 python batches) and its stand-in (`lra-image-standin`,
`lra-image-values-standin`: Fashion-MNIST padded to 32x32): TensorFlow's luma, the plane layout, S4's split, both
encodings, the padding, the safe unpickler, errors that name the file, the registered names, and one real run of
`zoo data prepare lra/image-standin` (Debian registry)."""

from __future__ import annotations

import argparse
import gzip
import math
import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy
import pytest
import torch
from files_image import CIFAR_FILES, idx_bytes, write_cifar, write_cifar_batch, write_fashion_mnist, write_idx
from zoo.tasks import DataError, get_task, list_tasks
from zoo.tasks.lra.image import (
    CIFAR_CLASSES,
    LRAImageConfig,
    LRAImageDataModule,
    LRAImageValuesConfig,
    LRAImageValuesDataModule,
    luma,
    read_cifar_batch,
    train_val_split,
)
from zoo.tasks.lra.image_standin import (
    FASHION_CLASSES,
    FASHION_NORMALISATION,
    FILES,
    PACKAGE_FOLDER,
    PREPARER,
    LRAImageStandinConfig,
    LRAImageStandinDataModule,
    LRAImageValuesStandinConfig,
    LRAImageValuesStandinDataModule,
    package_folder,
    prepare_fashion_mnist,
    read_fashion,
)
from zoo.tasks.prepare import get_preparer
from zoo.tasks.vision.idx import read_idx

TASKS = {
    "lra-image": (LRAImageConfig, LRAImageDataModule, "tokens"),
    "lra-image-values": (LRAImageValuesConfig, LRAImageValuesDataModule, "channels"),
    "lra-image-standin": (LRAImageStandinConfig, LRAImageStandinDataModule, "tokens"),
    "lra-image-values-standin": (LRAImageValuesStandinConfig, LRAImageValuesStandinDataModule, "channels"),
}


def solid(colours: list[tuple[int, int, int]]) -> torch.Tensor:
    """CIFAR rows `[n, 3072]` of one colour each: every pixel of plane c is colour[c]."""
    return torch.tensor(colours, dtype=torch.uint8)[:, :, None].expand(-1, 3, 1024).reshape(-1, 3072).contiguous()


def datamodule(name: str, folder, **fields):
    config_cls, datamodule_cls, _ = TASKS[name]
    dm = datamodule_cls(config_cls(data_dir=str(folder), batch_size=4, **fields))
    dm.setup()
    return dm


def read_back_cifar(folder: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The test's own files read with plain pickle: train rows `[5n, 3072]`, labels, test rows, labels."""
    with warnings.catch_warnings():  # they name numpy.core, which numpy 2 still imports, with a warning
        warnings.simplefilter("ignore", DeprecationWarning)
        batches = [pickle.loads((folder / "cifar-10-batches-py" / name).read_bytes(), encoding="bytes")
                   for name in CIFAR_FILES]
    rows = [torch.from_numpy(numpy.array(batch[b"data"])) for batch in batches]
    labels = [torch.tensor(batch[b"labels"]) for batch in batches]
    return torch.cat(rows[:5]), torch.cat(labels[:5]), rows[5], labels[5]


def s4_split(count: int) -> tuple[list[int], list[int]]:
    """S4's train / val indices: torch's random_split at 90% with a generator seeded 42."""
    train_len = int(count * (1.0 - 0.1))
    train, val = torch.utils.data.random_split(range(count), (train_len, count - train_len),
                                               generator=torch.Generator().manual_seed(42))
    return list(train.indices), list(val.indices)


def test_luma_of_known_colours_is_tensorflows():
    # 255.5 * w (w = TF's 0.2989, 0.5870, 0.1140, sums of them), truncated: far from integers, so exact.
    colours = {(0, 0, 0): 0, (255, 255, 255): 255, (255, 0, 0): 76, (0, 255, 0): 149, (0, 0, 255): 29,
               (255, 255, 0): 226, (0, 255, 255): 179, (255, 0, 255): 105}
    gray = luma(solid(list(colours)))
    assert gray.dtype == torch.uint8 and gray.shape == (len(colours), 1024)
    assert gray[:, 0].tolist() == list(colours.values())
    assert (gray == gray[:, :1]).all()
    levels = list(range(256))  # 255.5 * 0.9999 / 255 = 1.0018: every gray level keeps its value
    assert luma(solid([(v, v, v) for v in levels]))[:, 0].tolist() == levels


def test_luma_truncates_the_weighted_sum_like_tensorflow(seed):
    colours = torch.randint(0, 256, (4, 1024, 3), dtype=torch.uint8)  # 4 images of 1024 random pixels
    gray = luma(colours.permute(0, 2, 1).reshape(4, 3072)).long()
    exact = (colours.double() @ torch.tensor([0.2989, 0.5870, 0.1140], dtype=torch.float64)) / 255 * 255.5
    # float32 (about 8 roundings of relative 2^-24) moves 255.5 * x by under 2e-4: where the exact value is more
    # than 1e-3 from an integer the truncation must agree; at most one level off anywhere. Checked over all 2^24
    # colours: 237 differ from the float64 floor, each within 4e-5 of an integer; the fraction of clear pixels was
    # at least 0.9958 over 300 seeds.
    clear = (exact - exact.floor() > 1e-3) & (exact.ceil() - exact > 1e-3)
    assert clear.float().mean() > 0.9, f"seed={seed}"
    assert torch.equal(gray[clear], exact.floor().long()[clear]), f"seed={seed}"
    assert (gray - exact.floor().long()).abs().max() <= 1, f"seed={seed}"


def test_plane_layout_red_is_red_and_pixels_are_row_major(tmp_path):
    red, green, blue = solid([(255, 0, 0)]), solid([(0, 255, 0)]), solid([(0, 0, 255)])
    marked = torch.zeros(1, 3072, dtype=torch.uint8)
    marked[0, 0] = 255  # R plane, row 0 column 0
    marked[0, 1024 + 32 * 31 + 31] = 255  # G plane, row 31 column 31
    marked[0, 2048 + 32 * 1 + 5] = 255  # B plane, row 1 column 5
    path = tmp_path / "data_batch_1"
    write_cifar_batch(path, torch.cat([red, green, blue, marked]).numpy(), [3, 1, 4, 9])
    images = read_cifar_batch(path)
    assert images.labels.tolist() == [3, 1, 4, 9]
    assert images.pixels[0].unique().tolist() == [76]  # red; blue gives 29, green 149
    assert images.pixels[1].unique().tolist() == [149] and images.pixels[2].unique().tolist() == [29]
    assert {step: level for step, level in enumerate(images.pixels[3].tolist()) if level} == {0: 76, 1023: 149, 37: 29}


def test_split_rule_is_s4s_random_split():
    for count, val in ((50_000, 5_000), (60_000, 6_000), (100, 10), (120, 12)):
        train, held_out = train_val_split(count, 42)
        assert len(held_out) == val and len(train) == count - val
        assert (train.tolist(), held_out.tolist()) == s4_split(count)
        assert sorted(train.tolist() + held_out.tolist()) == list(range(count))


def test_cifar_tasks_split_and_encode_every_image(tmp_path, seed):
    folder = write_cifar(tmp_path, seed)
    train_rows, train_labels, test_rows, test_labels = read_back_cifar(folder)
    train_gray, test_gray = luma(train_rows), luma(test_rows)
    train_indices, val_indices = s4_split(100)
    tokens, values = datamodule("lra-image", folder), datamodule("lra-image-values", folder / "cifar-10-batches-py")
    for dm in (tokens, values):
        assert {split: len(dataset) for split, dataset in dm.datasets.items()} == {"train": 90, "val": 10, "test": 20}
        assert dm.datasets["train"].images.pixels.dtype == torch.uint8  # no float copy of the set is kept
        for split, indices, gray, labels in (("train", train_indices, train_gray, train_labels),
                                             ("val", val_indices, train_gray, train_labels),
                                             ("test", list(range(20)), test_gray, test_labels)):
            images = dm.datasets[split].images
            assert torch.equal(images.pixels, gray[indices]), f"{split} (seed={seed})"
            assert torch.equal(images.labels, labels[indices]), f"{split} (seed={seed})"
    batch = next(iter(tokens.val_dataloader()))
    assert batch["inputs"].dtype == torch.long and batch["inputs"].shape == (4, 1024)
    assert torch.equal(batch["inputs"], train_gray[val_indices[:4]].long())
    assert 0 <= int(batch["inputs"].min()) and int(batch["inputs"].max()) <= 255
    assert batch["targets"].dtype == torch.long and batch["targets"].shape == (4,)
    batch = next(iter(values.test_dataloader()))
    assert batch["inputs"].dtype == torch.float32 and batch["inputs"].shape == (4, 1024, 1)
    expected = (test_gray[:4].double() / 255 - 122.6 / 255) / (61.0 / 255)
    assert (batch["inputs"][..., 0].double() - expected).abs().max() < 1e-6
    assert -2.01 < float(batch["inputs"].min()) and float(batch["inputs"].max()) < 2.171  # (0 or 255 - 122.6) / 61
    assert torch.equal(batch["targets"], test_labels[:4])
    assert (tokens.io.inputs, tokens.io.vocab_size, tokens.io.num_outputs) == ("tokens", 256, 10)
    assert (values.io.inputs, values.io.channels, values.io.num_outputs) == ("channels", 1, 10)
    assert tokens.io.labels == values.io.labels == CIFAR_CLASSES and tokens.io.labels[-1] == "truck"


class _RunsACommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_unpickler_refuses_a_pickle_that_would_run_a_command(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _RunsACommand(f"touch {marker}"), b"labels": [0]}, protocol=protocol))
    with pytest.raises(DataError, match="refused") as error:
        read_cifar_batch(path)
    assert str(path) in str(error.value) and "system" in str(error.value)
    assert not marker.exists()
    path.write_bytes(pickle.dumps(eval, protocol=protocol))
    with pytest.raises(DataError, match=r"refused to load the global (__builtin__|builtins)\.eval"):
        read_cifar_batch(path)


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _replace(path: Path, batch: dict) -> None:
    path.write_bytes(pickle.dumps(batch, protocol=2))


ROWS = numpy.zeros((2, 3072), dtype=numpy.uint8)
CIFAR_DAMAGE = {
    "truncated": (_cut, "not a readable CIFAR-10 python batch"),
    "not a pickle": (lambda path: path.write_bytes(b"<html>Not Found</html>"), "not a readable"),
    "a list": (lambda path: _replace(path, [1, 2]), "holds a list"),
    "no labels": (lambda path: _replace(path, {b"data": ROWS}), "holds the keys"),
    "narrow rows": (lambda path: _replace(path, {b"data": ROWS[:, :3000], b"labels": [0, 1]}), r"\[n, 3072\]"),
    "int64 pixels": (lambda path: _replace(path, {b"data": ROWS.astype(numpy.int64), b"labels": [0, 1]}), "uint8"),
    "one label short": (lambda path: _replace(path, {b"data": ROWS, b"labels": [0]}), "list of 2 class ids"),
    "label 10": (lambda path: _replace(path, {b"data": ROWS, b"labels": [0, 10]}), "not class ids 0-9"),
    "missing": (lambda path: path.unlink(), "CIFAR-10 batch not found"),
}


@pytest.mark.parametrize("damage", list(CIFAR_DAMAGE))
def test_malformed_cifar_batches_raise_dataerror_naming_the_file(tmp_path, seed, damage):
    folder = write_cifar(tmp_path, seed, per_batch=2)
    path = folder / "cifar-10-batches-py" / ("test_batch" if damage == "missing" else "data_batch_3")
    spoil, message = CIFAR_DAMAGE[damage]
    spoil(path)
    with pytest.raises(DataError, match=message) as error:
        datamodule("lra-image", folder)
    assert str(path) in str(error.value)


def test_missing_cifar_folder_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="cifar-10-python.tar.gz") as error:
        datamodule("lra-image-values", tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(error.value)


def test_standin_pads_28_to_32_and_splits_like_cifar(tmp_path, seed):
    folder = write_fashion_mnist(tmp_path, seed)
    images = read_idx(folder / "train-images-idx3-ubyte.gz", (28, 28))
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz", ())
    test_images = read_idx(folder / "t10k-images-idx3-ubyte.gz", (28, 28))
    train_indices, val_indices = s4_split(120)
    tokens, values = datamodule("lra-image-standin", folder), datamodule("lra-image-values-standin", folder)
    assert {split: len(dataset) for split, dataset in tokens.datasets.items()} == {"train": 108, "val": 12, "test": 20}
    val = tokens.datasets["val"].images
    grid = val.pixels.view(12, 32, 32)
    assert torch.equal(grid[:, 2:30, 2:30], images[val_indices]), f"seed={seed}"
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False  # two rows and columns of zeros on every side
    assert grid[:, border].eq(0).all() and border.sum() == 32 * 32 - 28 * 28
    assert torch.equal(val.labels, labels[val_indices].long())
    assert torch.equal(tokens.datasets["train"].images.labels, labels[train_indices].long())
    batch = next(iter(tokens.test_dataloader()))
    assert batch["inputs"].dtype == torch.long and batch["inputs"].shape == (4, 1024)
    assert torch.equal(batch["inputs"].view(4, 32, 32)[:, 2:30, 2:30], test_images[:4].long())
    batch = next(iter(values.test_dataloader()))
    assert batch["inputs"].dtype == torch.float32 and batch["inputs"].shape == (4, 1024, 1)
    mean, std = FASHION_NORMALISATION
    expected = (tokens.datasets["test"].images.pixels[:4].double() - mean) / std
    assert (batch["inputs"][..., 0].double() - expected).abs().max() < 1e-6
    low, high = float(batch["inputs"].min()), float(batch["inputs"].max())
    assert -mean / std - 1e-6 <= low <= high <= (255 - mean) / std + 1e-6
    assert values.datasets["train"].images.pixels.dtype == torch.uint8
    assert tokens.io.labels == values.io.labels == FASHION_CLASSES and values.io.channels == 1


def _idx_file(path: Path, array: numpy.ndarray, header_change: bytes = b"", data_change: int = 0) -> None:
    raw = idx_bytes(array)
    raw = header_change + raw[len(header_change):] if header_change else raw
    raw = raw[:data_change] if data_change < 0 else raw + bytes(data_change)
    path.write_bytes(gzip.compress(raw))


IMAGES = numpy.zeros((3, 28, 28), dtype=numpy.uint8)
IDX_DAMAGE = {
    "signed bytes": (lambda path: _idx_file(path, IMAGES, b"\x00\x00\x09\x03"), "magic number 00000903"),
    "a labels file": (lambda path: _idx_file(path, IMAGES[:, 0, 0]), "magic number 00000801"),
    "27 rows": (lambda path: _idx_file(path, IMAGES[:, :27]), r"dimensions \(3, 27, 28\)"),
    "short data": (lambda path: _idx_file(path, IMAGES, data_change=-5), "truncated"),
    "trailing bytes": (lambda path: _idx_file(path, IMAGES, data_change=3), "trailing bytes"),
    "truncated gzip": (lambda path: path.write_bytes(gzip.compress(idx_bytes(IMAGES))[:-20]), "not a complete gzip"),
    "not gzip": (lambda path: path.write_bytes(idx_bytes(IMAGES)), "not a complete gzip"),
    "missing": (lambda path: path.unlink(), "IDX file not found"),
}


@pytest.mark.parametrize("damage", list(IDX_DAMAGE))
def test_malformed_idx_files_raise_dataerror_naming_the_file(tmp_path, damage):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, IMAGES)
    spoil, message = IDX_DAMAGE[damage]
    spoil(path)
    with pytest.raises(DataError, match=message) as error:
        read_idx(path, (28, 28))
    assert str(path) in str(error.value)


def test_image_and_label_counts_and_label_range_are_checked(tmp_path, seed):
    folder = write_fashion_mnist(tmp_path, seed, train=5, test=5)
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, numpy.zeros(4, dtype=numpy.uint8))
    with pytest.raises(DataError, match="holds 5 images but .* holds 4 labels") as error:
        datamodule("lra-image-standin", folder)
    assert str(images) in str(error.value) and str(labels) in str(error.value)
    write_idx(labels, numpy.array([0, 1, 10, 2, 3], dtype=numpy.uint8))
    with pytest.raises(DataError, match="label 10 is not a class id") as error:
        read_fashion(images, labels)
    assert str(labels) in str(error.value)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="Fashion-MNIST file not found") as error:
        datamodule("lra-image-values-standin", folder)
    assert str(folder / "train-labels-idx1-ubyte.gz") in str(error.value)


def test_registered_names_kinds_and_stand_in_descriptions():
    assert set(TASKS) <= set(list_tasks())
    for name, (config_cls, datamodule_cls, inputs) in TASKS.items():
        assert get_task(name) == (config_cls, datamodule_cls)
        assert config_cls().name == name  # a config's section names its task by this default
        assert (datamodule_cls.inputs, datamodule_cls.outputs) == (inputs, "classifier")
        description = datamodule_cls(config_cls()).description
        assert len(description.splitlines()) == 1
        assert ("stand-in" in description) == ("standin" in name) == (datamodule_cls.default_subdir != "lra/cifar10")
        assert "LRA Image" in description
    standin = LRAImageStandinDataModule(LRAImageStandinConfig()).description
    assert standin.startswith("Fashion-MNIST padded to 32x32, stand-in for LRA Image: CIFAR-10 is not available "
                              "offline")
    assert "tokens 0-255" in standin
    assert "(x - 55.8) / 84.6" in LRAImageValuesStandinDataModule(LRAImageValuesStandinConfig()).description
    assert get_preparer(PREPARER).run is prepare_fashion_mnist
    assert LRAImageConfig().split_seed == 42 and LRAImageConfig().batch_size == 50


@pytest.mark.skipif(Path(PACKAGE_FOLDER).is_dir(), reason="dataset-fashion-mnist is installed system-wide")
def test_standin_without_the_package_says_how_to_prepare_it(data_dir):
    with pytest.raises(DataError, match=f"zoo data prepare {PREPARER}"):
        LRAImageStandinDataModule(LRAImageStandinConfig()).setup()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None, reason="needs apt-get")
def test_real_debian_package_prepares_and_loads(data_dir, tmp_path):
    folder = prepare_fashion_mnist(argparse.Namespace(out=package_folder()))
    assert sorted(path.name for path in folder.iterdir()) == sorted(name for pair in FILES.values() for name in pair)
    train = read_idx(folder / FILES["train"][0], (28, 28))
    assert train.shape == (60_000, 28, 28) and read_idx(folder / FILES["test"][0], (28, 28)).shape == (10_000, 28, 28)
    assert abs(train.double().mean().item() / 255 - 0.2860) < 5e-5  # REFERENCES §2: mean 0.2860, std 0.3530
    assert abs(train.double().std().item() / 255 - 0.3530) < 5e-5
    padded = read_fashion(*(folder / name for name in FILES["train"])).pixels.double()
    measured = (padded.mean().item(), padded.std().item())
    assert all(abs(a - b) <= 0.05 for a, b in zip(measured, FASHION_NORMALISATION)), measured  # rounded to 0.1
    dm = LRAImageValuesStandinDataModule(LRAImageValuesStandinConfig())
    dm.setup()
    assert {split: len(dataset) for split, dataset in dm.datasets.items()} == {"train": 54_000, "val": 6_000,
                                                                               "test": 10_000}
    assert torch.bincount(dm.datasets["test"].images.labels).tolist() == [1_000] * 10
    item = dm.datasets["val"][0]
    assert item["inputs"].shape == (1024, 1) and item["inputs"].dtype == torch.float32
    assert math.isclose(float(item["inputs"][0, 0]), -55.8 / 84.6, rel_tol=1e-6)  # a padding pixel
    copy = prepare_fashion_mnist(argparse.Namespace(out=tmp_path / "copy"))
    assert copy == tmp_path / "copy"
    assert all((copy / path.name).read_bytes() == path.read_bytes() for path in folder.iterdir())
