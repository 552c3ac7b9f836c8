"""LRA Pathfinder and Path-X: the generator (image format, label balance, solvability and disjoint contours of every
PNG read back, the drawing rules, determinism by seed and worker count, the metadata layout, resuming), the
preparer, the loader (S4's 80/10/10 split with seed 42, the empty-sample skip, malformed metadata, both encodings,
the cache) and the registered task names."""

from __future__ import annotations

import math
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from files_pathfinder import SAMPLES_PER_BATCH, write_pathfinder
from PIL import Image
from zoo.tasks import DataError, get_task, list_tasks
from zoo.tasks.lra import pathfinder
from zoo.tasks.lra.pathfinder import METADATA_COLUMNS, read_metadata
from zoo.tasks.lra.pathfinder_draw import (
    PathfinderSpec,
    draw_sample,
    lra_spec,
    markers_connected,
    stroke_components,
)
from zoo.tasks.lra.pathfinder_generate import batch_labels, draw_batch, generate_pathfinder

from zoo.cli import main

TASKS = {"lra-pathfinder": ("channels", 32), "lra-pathfinder-tokens": ("tokens", 32),
         "lra-pathx": ("channels", 128), "lra-pathx-tokens": ("tokens", 128)}


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "L", f"{path} is {image.mode}, not grayscale"
        return np.array(image)


def metadata_lines(folder: Path, batch: int) -> list[list[str]]:
    return [line.split(" ") for line in (folder / "metadata" / f"{batch}.npy").read_text().splitlines()]


def flood(lit: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """The pixels of bool `lit` reached from `start` through 8-neighbours (grown until it stops; independent of
    `stroke_components`)."""
    reached = np.zeros_like(lit)
    reached[start] = lit[start]
    while True:
        padded = np.pad(reached, 1)
        grown = np.zeros_like(reached)
        for dy in range(3):
            for dx in range(3):
                grown |= padded[dy:dy + lit.shape[0], dx:dx + lit.shape[1]]
        grown &= lit
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def count_components(lit: np.ndarray) -> int:
    left, count = lit.copy(), 0
    while left.any():
        left &= ~flood(lit, tuple(np.argwhere(left)[0]))
        count += 1
    return count


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def datamodule(task: str, folder: Path, **fields):
    config_cls, module_cls = get_task(task)
    return module_cls(config_cls(data_dir=str(folder), batch_size=8, **fields))


def test_images_are_grayscale_uint8_pngs_of_the_resolution(tmp_path, seed):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=40)
    pngs = sorted(folder.glob("imgs/*/sample_*.png"))
    assert len(pngs) == 40 and sorted(path.name for path in (folder / "metadata").iterdir()) == ["0.npy", "1.npy"]
    for path in pngs:
        image = read_png(path)
        assert image.shape == (32, 32) and image.dtype == np.uint8
        # Holds for every seed: ink covers at most 48 paddles x 8 pixels + 2 markers x 9 = 402 of 1024 pixels (the
        # largest footprints of 200,000 random paddles and discs: 8 and 9 pixels).
        assert (image == 0).mean() > 0.5 and image.max() > 0, f"{path}: background is not the most of it"


def test_labels_are_balanced_in_every_batch(seed):
    # Exact for every seed: a batch's labels are a shuffle of alternating 0s and 1s, so the counts differ by at
    # most one (by zero for an even batch); only the order depends on the seed.
    for count in range(1, 40):
        labels = batch_labels(seed, batch=count, count=count)
        assert sorted(labels) == sorted(index % 2 for index in range(count))
    orders = {tuple(batch_labels(seed, batch, 16)) for batch in range(8)}  # all equal: chance 12870 ** -7
    assert len(orders) > 1, "every batch has its labels in the same order"


def test_every_written_sample_is_solvable_and_its_contours_disjoint(tmp_path, seed):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=40)
    spec = lra_spec(32)
    for batch, count in enumerate((SAMPLES_PER_BATCH, 40 - SAMPLES_PER_BATCH)):
        samples = draw_batch(spec, seed, batch, count)
        for index, (sample, row) in enumerate(zip(samples, metadata_lines(folder, batch))):
            image = read_png(folder / f"imgs/{batch}/sample_{index}.png")
            where = f"imgs/{batch}/sample_{index}.png (seed={seed})"
            assert np.array_equal(image, sample.image), f"{where} differs from a redraw with the same seed"
            assert int(row[3]) == sample.label
            first, second = sample.markers
            assert image[first] > 0 and image[second] > 0, f"{where}: a marker is not on a stroke"
            assert flood(image > 0, first)[second] == bool(sample.label), f"{where}: label {sample.label}"
            assert markers_connected(image, first, second) == bool(sample.label), f"{where}: label {sample.label}"
            found = count_components(image > 0)
            assert found == stroke_components(image)[1] == spec.num_contours, f"{where}: {found} components for 7"


def test_contours_follow_the_drawing_rules(seed):
    rng = np.random.default_rng(seed)
    spec = PathfinderSpec(resolution=48, contour_length=10, paddle_length=3.0, thickness=0.75, distractors=4,
                          distractor_length=3, max_turn=30.0, marker_radius=1.25, seed_distance=6.0, clearance=2)
    for label in (0, 1, 1, 0):
        sample = draw_sample(spec, label, rng)
        lengths = [len(contour) - 1 for contour in sample.contours]
        assert lengths == [10, 10, 3, 3, 3, 3]
        for contour in sample.contours:
            steps = np.diff(contour, axis=0)
            assert np.allclose(np.hypot(steps[:, 0], steps[:, 1]), 3.0)
            headings = np.arctan2(steps[:, 0], steps[:, 1])
            turns = np.abs((np.diff(headings) + math.pi) % (2 * math.pi) - math.pi)
            assert turns.max(initial=0) <= math.radians(30.0) + 1e-9, f"a turn of {math.degrees(turns.max()):.1f}"
            assert contour.min() >= spec.border and contour.max() <= 48 - spec.border
        marked, other = sample.contours[:2]
        assert np.hypot(*(marked[0] - other[0])) == pytest.approx(6.0)
        far_end = marked[-1] if label else other[-1]
        assert sample.markers == ((int(marked[0][0]), int(marked[0][1])), (int(far_end[0]), int(far_end[1])))
        assert stroke_components(sample.image)[1] == 6


def test_solvability_check_uses_8_connectivity_and_the_threshold():
    image = np.zeros((6, 8), np.uint8)
    image[1, 1:4] = 90
    image[2, 4] = 200  # diagonal step: joined under 8-connectivity
    image[3, 5:7] = 90
    assert markers_connected(image, (1, 1), (3, 6))
    assert not markers_connected(image, (1, 1), (3, 6), threshold=100)
    image[2, 4] = 0
    assert not markers_connected(image, (1, 1), (3, 6))
    assert not markers_connected(image, (0, 0), (0, 0)), "a background pixel is connected to nothing"
    labels, count = stroke_components(image)
    assert count == 2 and labels[1, 1] == 1 and labels[3, 6] == 2


def test_same_seed_same_files_whatever_the_workers(tmp_path, seed):
    spec = lra_spec(32)
    one = generate_pathfinder(tmp_path / "one", spec, 20, samples_per_batch=6, seed=seed, workers=1, progress=False)
    two = generate_pathfinder(tmp_path / "two", spec, 20, samples_per_batch=6, seed=seed, workers=2, progress=False)
    assert folder_bytes(one) == folder_bytes(two) and len(folder_bytes(one)) == 20 + 4 + 1
    other = generate_pathfinder(tmp_path / "other", spec, 2, samples_per_batch=6, seed=seed + 1, workers=1,
                                progress=False)
    assert (one / "imgs/0/sample_0.png").read_bytes() != (other / "imgs/0/sample_0.png").read_bytes()


def test_metadata_rows_follow_the_release_layout(tmp_path, seed):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=40)
    for batch, count in enumerate((32, 8)):
        rows = metadata_lines(folder, batch)
        assert len(rows) == count
        for index, row in enumerate(rows):
            assert len(row) == len(METADATA_COLUMNS) == 11
            assert row[:3] == [f"imgs/{batch}", f"sample_{index}.png", str(index)] and row[3] in ("0", "1")
            assert row[4:] == ["1.8", "14", "4", "2", "0.5", "1", "1"]  # continuity 90/50 ... clearance, contrasts


def test_an_interrupted_batch_is_redone_and_other_settings_refused(tmp_path, seed):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=40)
    before = folder_bytes(folder)
    kept = (folder / "metadata/0.npy").stat().st_mtime_ns
    (folder / "metadata/1.npy").unlink()  # as if the run had stopped while writing batch 1
    (folder / "imgs/1/sample_2.png").unlink()
    (folder / "imgs/1/sample_5.png").write_bytes(b"half a PNG")
    write_pathfinder(folder, seed, num_samples=40)
    assert folder_bytes(folder) == before and (folder / "metadata/0.npy").stat().st_mtime_ns == kept
    with pytest.raises(DataError, match="generator.json.*seed"):
        write_pathfinder(folder, seed + 1, num_samples=40)


def test_path_x_samples_are_solvable(tmp_path, seed):
    folder = write_pathfinder(tmp_path / "px", seed, num_samples=3, resolution=128)
    for index, sample in enumerate(draw_batch(lra_spec(128), seed, 0, 3)):
        image = read_png(folder / f"imgs/0/sample_{index}.png")
        assert image.shape == (128, 128) and np.array_equal(image, sample.image)
        assert flood(image > 0, sample.markers[0])[sample.markers[1]] == bool(sample.label)
        assert count_components(image > 0) == lra_spec(128).num_contours


def test_preparer_writes_where_the_task_of_its_resolution_reads(data_dir, seed, capsys):
    options = ["--num-samples", "5", "--samples-per-batch", "3", "--workers", "1", "--seed", str(seed)]
    assert main(["data", "prepare", "lra/pathfinder", *options]) == 0
    folder = data_dir / "lra" / "pathfinder32"
    assert [len(metadata_lines(folder, batch)) for batch in (0, 1)] == [3, 2]
    module = datamodule("lra-pathfinder", "")
    assert module.data_dir == folder
    assert main(["data", "prepare", "lra/pathfinder", "--contour-length", "0", *options]) == 2
    assert "contour_length" in capsys.readouterr().err


def test_split_is_s4s_80_10_10_with_seed_42(tmp_path, data_dir, seed):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=64)
    pixels = [read_png(folder / row[0] / row[1]) for batch in (0, 1) for row in metadata_lines(folder, batch)]
    labels = [int(row[3]) for batch in (0, 1) for row in metadata_lines(folder, batch)]
    expected = torch.utils.data.random_split(range(64), [52, 6, 6], generator=torch.Generator().manual_seed(42))
    module = datamodule("lra-pathfinder-tokens", folder)
    module.setup()
    for name, subset in zip(("train", "val", "test"), expected):
        dataset = module.datasets[name]
        assert len(dataset) == len(subset.indices)
        for position, index in enumerate(subset.indices):
            example = dataset[position]
            assert torch.equal(example["inputs"], torch.from_numpy(pixels[index]).reshape(-1).long())
            assert int(example["targets"]) == labels[index]
    again, other = datamodule("lra-pathfinder", folder), datamodule("lra-pathfinder", folder, split_seed=7)
    for each in (again, other):
        each.setup()
    assert torch.equal(again.datasets["test"].indices, module.datasets["test"].indices)
    assert not torch.equal(other.datasets["test"].indices, module.datasets["test"].indices)


def test_both_encodings_shapes_and_ranges(tmp_path, data_dir, seed):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=20)
    values, tokens = datamodule("lra-pathfinder", folder), datamodule("lra-pathfinder-tokens", folder)
    for module in (values, tokens):
        module.setup()
    value_batch, token_batch = next(iter(values.train_dataloader())), next(iter(tokens.val_dataloader()))
    assert value_batch["inputs"].shape == (8, 1024, 1) and value_batch["inputs"].dtype == torch.float32
    assert 0 <= value_batch["inputs"].min() and value_batch["inputs"].max() <= 1 and value_batch["inputs"].max() > 0
    assert token_batch["inputs"].shape == (2, 1024) and token_batch["inputs"].dtype == torch.long
    assert 0 <= token_batch["inputs"].min() and token_batch["inputs"].max() <= 255
    assert value_batch["targets"].dtype == torch.long and set(value_batch["targets"].tolist()) <= {0, 1}
    for index in range(len(values.datasets["test"])):
        value, token = values.datasets["test"][index]["inputs"], tokens.datasets["test"][index]["inputs"]
        assert torch.equal(value.squeeze(-1), token.float() / 255)
    assert (values.io.inputs, values.io.channels, values.io.num_outputs) == ("channels", 1, 2)
    assert (tokens.io.inputs, tokens.io.vocab_size, tokens.io.num_outputs) == ("tokens", 256, 2)


def test_known_empty_sample_is_skipped_and_unreadable_pngs_counted(tmp_path, data_dir, seed):
    folder = write_pathfinder(tmp_path / "pathfinder32" / "curv_baseline", seed, num_samples=20)
    row = "imgs/0 sample_172.png 172 1 1.8 14 4 2 0.5 1 1\n"
    with open(folder / "metadata/0.npy", "a") as file:
        file.write(row)
    (folder / "imgs/0/sample_172.png").write_bytes(b"")  # the release's empty file, skipped silently as S4 does
    module = datamodule("lra-pathfinder", folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.setup()
    assert sum(len(dataset) for dataset in module.datasets.values()) == 20
    (folder / "imgs/0/sample_3.png").write_bytes(b"")
    (folder / "imgs/0/sample_4.png").write_bytes(b"not a PNG at all")
    module = datamodule("lra-pathfinder", folder)
    with pytest.warns(UserWarning, match="skipped 2 of 20 PNG"):
        module.setup()
    assert sum(len(dataset) for dataset in module.datasets.values()) == 18


DAMAGES = {  # what is done to a copy of a good folder -> the message expected, naming the file and row
    "columns": r"1\.npy, row 3: 10 fields, expected 11",
    "label": r"1\.npy, row 2: the label \(field 3\) is '2'",
    "missing": r"0\.npy, row 5: the image .*sample_4\.png does not exist",
    "size": r"0\.npy, row 2: .*sample_1\.png is 16x16 pixels",
    "numbering": r"integer batch.*extra\.npy",
}


def damage(folder: Path, kind: str) -> None:
    metadata = folder / "metadata"
    if kind in ("columns", "label"):
        rows = metadata_lines(folder, 1)
        if kind == "columns":
            del rows[2][-1]
        else:
            rows[1][3] = "2"
        (metadata / "1.npy").write_text("".join(" ".join(row) + "\n" for row in rows))
    elif kind == "missing":
        (folder / "imgs/0/sample_4.png").unlink()
    elif kind == "size":
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "imgs/0/sample_1.png")
    else:
        (metadata / "extra.npy").write_text("")


def test_malformed_data_raises_naming_file_and_row(tmp_path, data_dir, seed):
    good = write_pathfinder(tmp_path / "good", seed, num_samples=SAMPLES_PER_BATCH + 3)
    datamodule("lra-pathfinder", good).setup()
    for kind, message in DAMAGES.items():
        folder = Path(shutil.copytree(good, tmp_path / kind))
        damage(folder, kind)
        with pytest.raises(DataError, match=message):
            datamodule("lra-pathfinder", folder).setup()


def test_missing_metadata_names_the_folder_and_the_preparer(tmp_path, data_dir):
    with pytest.raises(DataError, match=r"metadata holds no <batch>\.npy.*zoo data prepare lra/pathfinder"):
        datamodule("lra-pathx", tmp_path).setup()


def test_numpy_metadata_of_the_original_generator_is_read_too(tmp_path, seed):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=36)
    text_rows = read_metadata(folder)
    for batch in (0, 1):
        np.save(folder / "metadata" / f"{batch}.npy", np.array(metadata_lines(folder, batch)))
    assert read_metadata(folder) == text_rows


def test_decoded_images_come_from_the_cache_until_a_file_changes(tmp_path, data_dir, seed, monkeypatch):
    folder = write_pathfinder(tmp_path / "pf", seed, num_samples=20)
    first = datamodule("lra-pathfinder", folder)
    first.setup()
    assert list((data_dir / "cache" / "pathfinder").glob("*.pt"))

    def refuse(*args):
        raise AssertionError("decoded again although the cache holds these files")

    monkeypatch.setattr(pathfinder, "decode_all", refuse)
    cached = datamodule("lra-pathfinder-tokens", folder)
    cached.setup()
    assert torch.equal(cached.datasets["train"].images, first.datasets["train"].images)
    png = folder / "imgs/0/sample_0.png"
    os.utime(png, ns=(png.stat().st_atime_ns, png.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        datamodule("lra-pathfinder", folder).setup()


def test_registered_names_encodings_and_folders(tmp_path):
    assert set(TASKS) <= set(list_tasks())
    for name, (inputs, resolution) in TASKS.items():
        config_cls, module_cls = get_task(name)
        config = config_cls()
        assert (config.name, config.resolution, config.split_seed) == (name, resolution, 42)
        assert module_cls.inputs == inputs and module_cls.outputs == "classifier"
        assert module_cls.default_subdir == f"lra/pathfinder{resolution}"
        module = datamodule(name, tmp_path / f"pathfinder{resolution}" / "curv_contour_length_14")
        assert f"pathfinder{resolution}/curv_contour_length_14" in module.description
        assert f"{resolution}x{resolution}" in module.description
