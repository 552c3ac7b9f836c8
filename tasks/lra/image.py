"""LRA Image: CIFAR-10 as sequences of 1,024 grayscale pixels, 10 classes (`lra-image`, `lra-image-values`), and
the code its Fashion-MNIST stand-in (`image_standin.py`) and the vision tasks (`zoo.tasks.vision`) share: the CIFAR-10
reader, encodings, split, data module.

Files: the task's `data_dir` holds `cifar-10-batches-py/` (the unpacked `cifar-10-python.tar.gz`) or is that folder.
Its `data_batch_1` ... `data_batch_5` (training) and `test_batch` are pickles (protocol 2, written by Python 2) of a
dict whose `b"data"` is a numpy uint8 array `[n, 3072]`, one image a row: the R plane, then the G plane, then the
B plane, each 32 x 32 row-major; and whose `b"labels"` is a list of `n` ints 0-9 (`b"batch_label"` and
`b"filenames"` are not read). The pickles are read by a restricted unpickler (`read_cifar_colour`) that builds only
numpy arrays and dtypes, so a hostile file cannot run code.

Grayscale (LRA, `tf.image.rgb_to_grayscale`): `gray = trunc(255.5 * (0.2989 R + 0.5870 G + 0.1140 B) / 255)` in
float32, each channel first scaled by float32(1/255); the truncation is TensorFlow's cast back to uint8, so white
stays 255 and every gray `(v, v, v)` stays `v`. Pixels are read row by row: 1,024 steps.

Split: train 45k / val 5k / test 10k, as S4 splits it (LRA takes TFDS's `train[:90%]` / `train[90%:]`, whose order
is TFDS's hashed shuffle, which the python batches do not reproduce): the 50k training images in file order
(data_batch_1 first) are permuted by `torch.randperm(50_000)` from a generator seeded with `split_seed` (42, as
S4's `torch.utils.data.random_split`); the first `int(n * 0.9)` of the permutation train, the rest validate. The
same rule scales to any `n` (100 images: 90 / 10). The test set is `test_batch` in file order.

Encodings, one registered task each (an encoder is fixed per task):
- `lra-image` (LRA): `inputs` LongTensor `[B, 1024]`, the gray levels 0-255 as token ids (vocabulary 256);
- `lra-image-values` (S4): `inputs` float32 `[B, 1024, 1]`, `(x / 255 - 122.6 / 255) / (61.0 / 255)`, for a linear
  encoder. S4 converts with PIL's grayscale; both tasks here use the TensorFlow luma above.
`targets`: LongTensor `[B]`, the class ids; `io.labels` names them (airplane ... truck). Images stay in memory as
uint8 `[N, 1024]`; an item is converted when it is fetched.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy
import torch
from torch.utils.data import Dataset
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task

SIDE = 32
STEPS = SIDE * SIDE
PIXEL_LEVELS = 256
VAL_FRACTION = 0.1
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_NORMALISATION = (122.6, 61.0)  # S4's grayscale mean and std, in gray levels 0-255
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale's R, G, B weights
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{index}" for index in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
CIFAR_ROW = 3 * STEPS
CIFAR_REPAIR = "unpack a fresh copy of cifar-10-python.tar.gz"
CIFAR_HELP = ("download cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) where there is internet, "
              "unpack it and point the task's data_dir at the folder holding cifar-10-batches-py")


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 `[N, 3072]` (R, G, B planes of 32 x 32, as CIFAR's rows) -> uint8 `[N, 1024]`, TensorFlow's
    rgb_to_grayscale (see the module docstring), computed in float32 like it."""
    planes = rgb.view(-1, 3, STEPS).to(torch.float32) * torch.tensor(1 / 255, dtype=torch.float32)
    weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32)
    gray = planes[:, 0] * weights[0] + planes[:, 1] * weights[1] + planes[:, 2] * weights[2]
    return (gray * 255.5).to(torch.uint8)  # a cast truncates, as TensorFlow's does


def train_val_split(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (LongTensor) of the training and validation examples among `count`: S4's random_split, the first
    `int(count * 0.9)` of a permutation drawn from a generator seeded with `seed`, then the rest."""
    train = int(count * (1.0 - VAL_FRACTION))
    permutation = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return permutation[:train], permutation[train:]


def level_values(means: tuple[float, ...], stds: tuple[float, ...]) -> torch.Tensor:
    """float32 `[256, C]`: the value gray level `x` of channel `c` is fed as, `(x / 255 - means[c]) / stds[c]`
    (`means`, `stds` on the scale of `x / 255`), computed in float64."""
    levels = torch.arange(PIXEL_LEVELS, dtype=torch.float64)[:, None]
    mean, std = torch.tensor(means, dtype=torch.float64), torch.tensor(stds, dtype=torch.float64)
    return ((levels / 255 - mean) / std).to(torch.float32)


@dataclass(frozen=True)
class PixelImages:
    """Labelled images of 8-bit levels: `pixels` uint8 `[N, ...]`, one image per row (as sequences: gray levels
    `[N, T]` or colours `[N, T, C]`; as pictures: `[N, H, W]` or `[N, C, H, W]`), `labels` LongTensor `[N]`."""

    pixels: torch.Tensor
    labels: torch.Tensor

    def take(self, indices: torch.Tensor) -> PixelImages:
        """The images at `indices` (LongTensor `[M]`), in that order."""
        return PixelImages(self.pixels[indices], self.labels[indices])


class PixelSequences(Dataset):
    """Item `i` of images read as sequences (pixels `[N, T]` or `[N, T, C]`): `{"inputs": ..., "targets": LongTensor
    []}`; `inputs` is LongTensor `[T]` (the gray levels as tokens) when `values` is None, else float32 `[T, C]`, each
    level looked up in `values` (float32 `[256, C]`, `level_values`) for its channel."""

    def __init__(self, images: PixelImages, values: torch.Tensor | None) -> None:
        self.images = images
        self.values = values
        self.channels = None if values is None else torch.arange(values.shape[1])

    def __len__(self) -> int:
        return len(self.images.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        levels = self.images.pixels[index].long()
        inputs = levels if self.values is None else self.values[levels.view(len(levels), -1), self.channels]
        return {"inputs": inputs, "targets": self.images.labels[index]}


class _CIFARUnpickler(pickle.Unpickler):
    """Builds only what CIFAR's batches hold: numpy arrays and dtypes (and bytes, as Python 3 pickles them)."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _CIFAR_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refused to load the global {module}.{name}, which a CIFAR-10 batch never "
                                         "holds (numpy arrays only)")
        return allowed


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """`_codecs.encode` as protocol-2 pickles written by Python 3 use it for bytes, limited to latin-1 text."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


_CIFAR_GLOBALS = {
    # numpy pickles arrays with `_reconstruct`, named numpy.core.multiarray (numpy 1) or numpy._core (numpy 2).
    ("numpy.core.multiarray", "_reconstruct"): numpy.zeros(0).__reduce__()[0],
    ("numpy._core.multiarray", "_reconstruct"): numpy.zeros(0).__reduce__()[0],
    ("numpy", "ndarray"): numpy.ndarray,
    ("numpy", "dtype"): numpy.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


def read_cifar_colour(path: Path) -> PixelImages:
    """One CIFAR-10 python batch -> its images as they are stored, uint8 `[n, 3, 32, 32]` (R, G, B planes), and
    labels; DataError naming `path` when the file is missing, truncated, refused (a global other than numpy's arrays)
    or not laid out as CIFAR's."""
    if not path.is_file():
        raise DataError(f"CIFAR-10 batch not found: {path}; {CIFAR_HELP}")
    try:
        with open(path, "rb") as file:
            batch = _CIFARUnpickler(file, encoding="bytes").load()
    except Exception as error:  # unpickling damaged bytes raises errors of many types; none can run code here
        raise DataError(f"{path} is not a readable CIFAR-10 python batch ({type(error).__name__}: {error}); "
                        f"unpack a fresh copy: {CIFAR_HELP}") from error
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= set(batch):
        found = f"the keys {list(batch)[:8]}" if isinstance(batch, dict) else f"a {type(batch).__name__}"
        raise DataError(f"{path}: a CIFAR-10 batch is a dict with b'data' and b'labels', this holds {found}; "
                        f"{CIFAR_REPAIR}")
    data, labels = batch[b"data"], batch[b"labels"]
    if not (isinstance(data, numpy.ndarray) and data.dtype == numpy.uint8 and data.ndim == 2
            and data.shape[1] == CIFAR_ROW and data.shape[0] >= 1):
        shape = getattr(data, "shape", None)
        raise DataError(f"{path}: b'data' must be a uint8 array [n, {CIFAR_ROW}] (R, G, B planes of 32x32 per row), "
                        f"got {type(data).__name__} {getattr(data, 'dtype', '')} {shape}; {CIFAR_REPAIR}")
    if not isinstance(labels, list) or len(labels) != data.shape[0]:
        count = len(labels) if isinstance(labels, list) else type(labels).__name__
        raise DataError(f"{path}: b'labels' must be a list of {data.shape[0]} class ids (one per row of b'data'), "
                        f"got {count}; {CIFAR_REPAIR}")
    classes = range(len(CIFAR_CLASSES))
    wrong = [label for label in labels if not (isinstance(label, (int, numpy.integer)) and label in classes)]
    if wrong:
        raise DataError(f"{path}: b'labels' holds {len(wrong)} value(s) that are not class ids 0-9, e.g. {wrong[0]!r}; "
                        f"{CIFAR_REPAIR}")
    pixels = torch.from_numpy(data.copy()).view(-1, 3, SIDE, SIDE)
    return PixelImages(pixels, torch.tensor([int(label) for label in labels]))


def read_cifar_batch(path: Path) -> PixelImages:
    """One CIFAR-10 python batch -> its images in grayscale (`luma`), uint8 `[n, 1024]`, and labels (errors as
    `read_cifar_colour`'s)."""
    colour = read_cifar_colour(path)
    return PixelImages(luma(colour.pixels), colour.labels)


def cifar_folder(data_dir: Path) -> Path:
    """The folder of CIFAR's python batches: `data_dir/cifar-10-batches-py`, or `data_dir` itself when it holds
    them; DataError saying where to get them otherwise."""
    nested = data_dir / CIFAR_FOLDER
    if nested.is_dir():
        return nested
    if (data_dir / CIFAR_TRAIN_FILES[0]).is_file():
        return data_dir
    raise DataError(f"no CIFAR-10 python batches in {data_dir} (neither {nested} nor {data_dir / CIFAR_TRAIN_FILES[0]} "
                    f"exists); {CIFAR_HELP}")


def concatenate(parts: list[PixelImages]) -> PixelImages:
    """The images of `parts`, one after another."""
    return PixelImages(torch.cat([part.pixels for part in parts]), torch.cat([part.labels for part in parts]))


def read_cifar(data_dir: Path,
               read: Callable[[Path], PixelImages] = read_cifar_batch) -> tuple[PixelImages, PixelImages]:
    """The CIFAR-10 python batches under `data_dir` (`cifar_folder`), each read by `read`: the training images
    (data_batch_1 ... data_batch_5, one after another) and the test images."""
    folder = cifar_folder(data_dir)
    train = concatenate([read(folder / name) for name in CIFAR_TRAIN_FILES])
    return train, read(folder / CIFAR_TEST_FILE)


def split_images(train: PixelImages, test: PixelImages, seed: int) -> dict[str, PixelImages]:
    """The "train", "val" and "test" images: `train` split by `train_val_split` with `seed`, `test` as it is."""
    train_indices, val_indices = train_val_split(len(train.labels), seed)
    return {"train": train.take(train_indices), "val": train.take(val_indices), "test": test}


@dataclass
class LRAImageConfig(TaskConfig):
    """LRA Image, gray levels as tokens. batch_size: S4's 50. split_seed: seeds the train/val permutation (S4: 42)."""

    name: str = "lra-image"
    batch_size: int = 50
    split_seed: int = 42


@dataclass
class LRAImageValuesConfig(LRAImageConfig):
    """LRA Image, normalised values (S4)."""

    name: str = "lra-image-values"


class PixelSequenceTask(TaskDataModule):
    """Classification of images read pixel by pixel (LRA: 32 x 32 gray levels, `steps` 1,024); subclasses read the
    images (`read`), name the classes (`class_names`) and the values' `(mean, std)` in gray levels
    (`normalisation`; or override `value_table` and `value_formula`), and choose the encoding by `inputs`:
    `tokens` (gray levels) or `channels` (normalised values, `pixel_channels` of them). The config needs
    `split_seed`."""

    config: LRAImageConfig
    outputs = "classifier"
    class_names: ClassVar[tuple[str, ...]]
    normalisation: ClassVar[tuple[float, float]]
    steps: ClassVar[int] = STEPS
    pixel_channels: ClassVar[int] = 1

    def __init__(self, config: LRAImageConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, PixelSequences] = {}

    def read(self) -> tuple[PixelImages, PixelImages]:
        """The training images (validation included) and the test images."""
        raise NotImplementedError(f"{type(self).__name__} must define `read`")

    @property
    def io(self) -> TaskIO:
        if self.inputs == "tokens":
            return TaskIO(inputs="tokens", outputs=self.outputs, num_outputs=len(self.class_names),
                          vocab_size=PIXEL_LEVELS, labels=self.class_names)
        return TaskIO(inputs="channels", outputs=self.outputs, num_outputs=len(self.class_names),
                      channels=self.pixel_channels, labels=self.class_names)

    def value_table(self) -> torch.Tensor:
        """float32 `[256, pixel_channels]`: the value each level is fed as (`level_values`)."""
        mean, std = self.normalisation
        return level_values((mean / 255,), (std / 255,))

    @property
    def value_formula(self) -> str:
        """`value_table`'s formula, in words."""
        mean, std = self.normalisation
        return f"(x - {mean}) / {std}"

    @property
    def encoding(self) -> str:
        """How the pixels are fed, in words (for descriptions)."""
        if self.inputs == "tokens":
            return f"{self.steps} pixels as tokens 0-255"
        return f"{self.steps} pixels as values {self.value_formula}"

    def split(self, train: PixelImages, test: PixelImages) -> dict[str, PixelImages]:
        """The images of each split from those `read` returns (`split_images`)."""
        return split_images(train, test, self.config.split_seed)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        values = None if self.inputs == "tokens" else self.value_table()
        self.datasets = {split: PixelSequences(images, values) for split, images in self.split(*self.read()).items()}


class CIFARImageTask(PixelSequenceTask):
    """LRA Image over CIFAR-10's python batches in `data_dir` (see the module docstring)."""

    default_subdir = "lra/cifar10"
    class_names = CIFAR_CLASSES
    normalisation = CIFAR_NORMALISATION

    @property
    def description(self) -> str:
        return f"LRA Image: CIFAR-10 in grayscale, {self.encoding}"

    def read(self) -> tuple[PixelImages, PixelImages]:
        return read_cifar(self.data_dir)


@register_task("lra-image", LRAImageConfig)
class LRAImageDataModule(CIFARImageTask):
    """LRA Image as LRA feeds it: gray levels as tokens, `inputs` LongTensor `[B, 1024]`."""

    inputs = "tokens"


@register_task("lra-image-values", LRAImageValuesConfig)
class LRAImageValuesDataModule(CIFARImageTask):
    """LRA Image as S4 feeds it: normalised gray levels, `inputs` float32 `[B, 1024, 1]`."""

    inputs = "channels"
