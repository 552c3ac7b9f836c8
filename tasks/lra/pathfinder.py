"""LRA Pathfinder and Path-X (Linsley et al., 2018; Tay et al., 2021): are the two dots joined by a contour?

Files (a task's `data_dir`: a folder of the LRA release such as `lra_release/pathfinder32/curv_contour_length_14`,
or one that `zoo data prepare lra/pathfinder` wrote):

- `metadata/<batch>.npy`: text despite the suffix, as in the release: one sample a line, `METADATA_COLUMNS` fields
  separated by whitespace; field 0 is the image folder (`imgs/<batch>`), 1 the file name (`sample_<i>.png`), 3 the
  label (1: the dots are on one contour). A NumPy array of such rows (the original generator's `np.save`) is read
  too. `<batch>` is an integer.
- `imgs/<batch>/sample_<i>.png`: `R x R` grayscale images, 0 background.

The protocol is S4's: metadata files in the numeric order of their names, rows in file order; the release's empty
image `pathfinder32/curv_baseline/imgs/0/sample_172.png` is left out, and so is any other PNG that is empty or
cannot be decoded (with a warning that counts them); the `n` samples left are split by `torch.utils.data.random_split`
with a generator seeded `split_seed` (42) into train, val and test of `n - 2 (n // 10)`, `n // 10` and `n // 10`
samples (S4's `int(0.1 * n)`).

Batches: `targets` LongTensor `[B]`; `inputs` float `[B, R * R, 1]`, the pixels in row-major order scaled to [0, 1]
(`lra-pathfinder`, `lra-pathx`: for a linear encoder, as S4, which maps them further to [-1, 1]), or LongTensor
`[B, R * R]`, the gray levels 0-255 as tokens (`lra-pathfinder-tokens`, `lra-pathx-tokens`: as LRA).

Decoding many thousands of PNGs is slow, so it is done once, in parallel with a progress bar, into a uint8 tensor
`[n, R, R]` kept in the verified cache (`zoo.tasks.cache`) under `<data dir>/cache/pathfinder`, keyed by the folder's
resolved path, the resolution and a digest of every listed image's path, label, size and modification time: any
change to the files makes a new entry.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, random_split
from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, default_data_dir, register_task
from zoo.tasks.cache import CachedTensors
from zoo.tasks.parallel import default_workers, parallel_map

METADATA_COLUMNS = ("image_folder", "file_name", "index", "label", "continuity", "contour_length",
                    "distractor_length", "paddle_length", "paddle_thickness", "paddle_margin", "contrast_levels")
KNOWN_EMPTY = "pathfinder32/curv_baseline/imgs/0/sample_172.png"  # empty in the LRA release; S4 skips it
GRAY_LEVELS = 256
CACHE_VERSION = 1
DECODE_CHUNK = 1000  # images a decoding job reads
NUMPY_MAGIC = b"\x93NUMPY"


def pathfinder_subdir(resolution: int) -> str:
    """The folder under the data dir that `zoo data prepare lra/pathfinder` writes and the tasks read by default."""
    return f"lra/pathfinder{resolution}"


class PathfinderRow(NamedTuple):
    """One sample a metadata file lists: its `image` file, its `label` and `where` it is listed (for messages)."""

    image: Path
    label: int
    where: str


def _metadata_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(row number from 1, fields) of each non-blank row of a metadata file, text or NumPy array of strings."""
    raw = path.read_bytes()
    if raw.startswith(NUMPY_MAGIC):
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise DataError(f"{path}: a NumPy file that does not hold plain strings ({error}); metadata rows must be "
                            "text or an array of strings") from None
        if array.ndim != 2:
            raise DataError(f"{path}: a NumPy array of shape {array.shape}; metadata must be 2-D, one row a sample")
        return [(number, [str(field) for field in row]) for number, row in enumerate(array.tolist(), start=1)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: neither text nor a NumPy file ({error}); is it a Pathfinder metadata file?") from None
    return [(number, line.split()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_metadata(folder: Path) -> list[PathfinderRow]:
    """Every sample listed under `folder/metadata/`, in S4's order (see the module docstring); malformed rows raise
    `DataError` naming the file and row."""
    metadata = folder / "metadata"
    files = sorted(metadata.glob("*.npy")) if metadata.is_dir() else []
    if not files:
        raise DataError(f"{metadata} holds no <batch>.npy metadata files; set data_dir to a Pathfinder folder such as "
                        "lra_release/pathfinder32/curv_contour_length_14, or run `zoo data prepare lra/pathfinder`")
    unnumbered = [path.name for path in files if not path.stem.isdigit()]
    if unnumbered:
        raise DataError(f"{metadata}: metadata files are named <batch>.npy with an integer batch; move away "
                        f"{', '.join(unnumbered[:5])}")
    rows = []
    for path in sorted(files, key=lambda path: int(path.stem)):
        for number, fields in _metadata_lines(path):
            where = f"{path}, row {number}"
            if len(fields) != len(METADATA_COLUMNS):
                raise DataError(f"{where}: {len(fields)} fields, expected {len(METADATA_COLUMNS)} "
                                f"({' '.join(METADATA_COLUMNS)}); the file is damaged or not Pathfinder metadata")
            if fields[3] not in ("0", "1"):
                raise DataError(f"{where}: the label (field 3) is {fields[3]!r}, not 0 or 1")
            rows.append(PathfinderRow(folder / fields[0] / fields[1], int(fields[3]), where))
    return rows


def is_known_empty(image: Path) -> bool:
    """Whether `image` is the release's empty `pathfinder32/curv_baseline/imgs/0/sample_172.png`."""
    return Path(os.path.abspath(image)).as_posix().endswith("/" + KNOWN_EMPTY)


def listing_digest(rows: list[PathfinderRow], folder: Path) -> str:
    """SHA-256 over each row's image path (relative to `folder`), label, size and modification time; a missing
    image raises `DataError` naming the metadata row."""
    digest = hashlib.sha256()
    for row in rows:
        try:
            stat = row.image.stat()
        except FileNotFoundError:
            raise DataError(f"{row.where}: the image {row.image} does not exist; the folder is incomplete (extract "
                            "the release again, or rerun `zoo data prepare lra/pathfinder`)") from None
        digest.update(f"{row.image.relative_to(folder)}\0{row.label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DecodeJob:
    """PNG files to decode (`images`, with `wheres` for messages), each `resolution` x `resolution`."""

    images: tuple[str, ...]
    wheres: tuple[str, ...]
    resolution: int


def decode_images(job: DecodeJob) -> tuple[np.ndarray, np.ndarray]:
    """The job's images as uint8 `[k, R, R]` (grayscale, zeros where unreadable) and which were read (bool `[k]`);
    an image of another size raises `DataError` naming it."""
    size = job.resolution
    pixels = np.zeros((len(job.images), size, size), np.uint8)
    read = np.zeros(len(job.images), bool)
    for index, (path, where) in enumerate(zip(job.images, job.wheres)):
        try:
            with Image.open(path) as image:
                gray = np.asarray(image.convert("L"))
        except (OSError, ValueError, SyntaxError):  # empty, truncated or not an image: counted and skipped
            continue
        if gray.shape != (size, size):
            raise DataError(f"{where}: {path} is {gray.shape[1]}x{gray.shape[0]} pixels, the task expects {size}x"
                            f"{size}; set the task's resolution, or data_dir to a pathfinder{size} folder")
        pixels[index], read[index] = gray, True
    return pixels, read


def decode_all(rows: list[PathfinderRow], resolution: int) -> dict[str, torch.Tensor]:
    """Decode the rows' images over processes with a progress bar: `images` uint8 `[n, R, R]` and `labels` int64
    `[n]` of the readable ones, and `unreadable` (int64 `[]`), how many were not."""
    chunks = [rows[start:start + DECODE_CHUNK] for start in range(0, len(rows), DECODE_CHUNK)]
    jobs = [DecodeJob(tuple(str(row.image) for row in chunk), tuple(row.where for row in chunk), resolution)
            for chunk in chunks]
    decoded = parallel_map(decode_images, jobs, workers=min(default_workers(), len(jobs)),
                           description=f"decoding {len(rows)} Pathfinder PNGs")
    pixels = np.concatenate([chunk_pixels for chunk_pixels, _ in decoded])
    read = np.concatenate([chunk_read for _, chunk_read in decoded])
    labels = np.array([row.label for row in rows], np.int64)
    return {"images": torch.from_numpy(pixels[read]), "labels": torch.from_numpy(labels[read]),
            "unreadable": torch.tensor(int((~read).sum()))}


class PathfinderImages(Dataset):
    """Examples `{"inputs", "targets"}` (see the module docstring) of `images` uint8 `[N, R, R]` and `labels`
    `[N]` at `indices`; `tokens` chooses gray levels (LongTensor `[R * R]`) over values (float `[R * R, 1]`)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, indices: list[int], tokens: bool) -> None:
        self.images, self.labels, self.tokens = images, labels, tokens
        self.indices = torch.tensor(indices, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        position = self.indices[index]
        pixels = self.images[position].reshape(-1)
        inputs = pixels.long() if self.tokens else (pixels.float() / 255).unsqueeze(-1)
        return {"inputs": inputs, "targets": self.labels[position]}


@dataclass
class PathfinderConfig(TaskConfig):
    """Where the images are (`data_dir`), their size and the seed of the 80/10/10 split."""

    name: str = "lra-pathfinder"
    resolution: int = 32
    split_seed: int = 42

    def validate(self) -> None:
        super().validate()
        if self.resolution < 1:
            raise ValueError(f"resolution must be >= 1, got {self.resolution}")


@dataclass
class PathfinderTokensConfig(PathfinderConfig):
    name: str = "lra-pathfinder-tokens"


@dataclass
class PathXConfig(PathfinderConfig):
    name: str = "lra-pathx"
    resolution: int = 128


@dataclass
class PathXTokensConfig(PathXConfig):
    name: str = "lra-pathx-tokens"


class PathfinderTask(TaskDataModule):
    """Pathfinder images from `data_dir` (see the module docstring); `inputs` chooses the encoding."""

    config: PathfinderConfig
    outputs = "classifier"
    title: ClassVar[str]

    def __init__(self, config: PathfinderConfig) -> None:
        super().__init__(config)
        self.datasets: dict[str, PathfinderImages] = {}

    @property
    def io(self) -> TaskIO:
        if self.inputs == "tokens":
            return TaskIO(inputs="tokens", outputs=self.outputs, num_outputs=2, vocab_size=GRAY_LEVELS)
        return TaskIO(inputs="channels", outputs=self.outputs, num_outputs=2, channels=1)

    @property
    def description(self) -> str:
        size, folder = self.config.resolution, self.data_dir.resolve()
        encoding = "gray-level tokens 0-255" if self.inputs == "tokens" else "values in [0, 1]"
        return (f"LRA {self.title} {size}x{size} ({folder.parent.name}/{folder.name}), {size * size} pixels as "
                f"{encoding}")

    @property
    def cache_folder(self) -> Path:
        return default_data_dir() / "cache" / "pathfinder"

    def decoded(self) -> dict[str, torch.Tensor]:
        """The decoded images and labels of `data_dir` (from the cache when it holds them, else decoded and cached);
        warns when PNGs were skipped as unreadable."""
        folder, size = self.data_dir, self.config.resolution
        rows = [row for row in read_metadata(folder) if not is_known_empty(row.image)]
        if not rows:
            raise DataError(f"{folder}: the metadata lists no images")
        fields = {"version": CACHE_VERSION, "folder": str(folder.resolve()), "resolution": size, "files": len(rows),
                  "listing": listing_digest(rows, folder)}

        def check(tensors: dict[str, torch.Tensor]) -> None:
            images, labels = tensors["images"], tensors["labels"]
            if images.dtype != torch.uint8 or images.shape[1:] != (size, size) or len(labels) != len(images):
                raise ValueError(f"images {images.dtype}{list(images.shape)} with {len(labels)} labels")

        tensors = CachedTensors(self.cache_folder, fields).load_or_build(lambda: decode_all(rows, size), check)
        unreadable = int(tensors["unreadable"])
        if unreadable:
            warnings.warn(f"{folder}: skipped {unreadable} of {len(rows)} PNG files, empty or unreadable", stacklevel=2)
        if not len(tensors["images"]):
            raise DataError(f"{folder}: none of the {len(rows)} images listed in metadata/ can be read")
        return tensors

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        tensors = self.decoded()
        total = len(tensors["images"])
        held_out = total // 10
        generator = torch.Generator().manual_seed(self.config.split_seed)
        splits = random_split(range(total), [total - 2 * held_out, held_out, held_out], generator=generator)
        tokens = self.inputs == "tokens"
        self.datasets = {name: PathfinderImages(tensors["images"], tensors["labels"], list(split.indices), tokens)
                         for name, split in zip(("train", "val", "test"), splits)}


@register_task("lra-pathfinder", PathfinderConfig)
class PathfinderDataModule(PathfinderTask):
    """LRA Pathfinder, 32 x 32, pixels as values (S4): `inputs` float `[B, 1024, 1]`."""

    inputs = "channels"
    title = "Pathfinder"
    default_subdir = pathfinder_subdir(32)


@register_task("lra-pathfinder-tokens", PathfinderTokensConfig)
class PathfinderTokensDataModule(PathfinderDataModule):
    """LRA Pathfinder, 32 x 32, pixels as tokens (LRA): `inputs` LongTensor `[B, 1024]`."""

    inputs = "tokens"


@register_task("lra-pathx", PathXConfig)
class PathXDataModule(PathfinderTask):
    """LRA Path-X, 128 x 128, pixels as values (S4): `inputs` float `[B, 16384, 1]`."""

    inputs = "channels"
    title = "Path-X"
    default_subdir = pathfinder_subdir(128)


@register_task("lra-pathx-tokens", PathXTokensConfig)
class PathXTokensDataModule(PathXDataModule):
    """LRA Path-X, 128 x 128, pixels as tokens (LRA): `inputs` LongTensor `[B, 16384]`."""

    inputs = "tokens"
