"""Generate Pathfinder / Path-X in the LRA release's layout: `zoo data prepare lra/pathfinder`.

Written into `out` (the folder a task's `data_dir` names; format in `zoo.tasks.lra.pathfinder`):

- `imgs/<batch>/sample_<i>.png`: the images of `pathfinder_draw.draw_sample`, grayscale uint8 PNG;
- `metadata/<batch>.npy`: text, one line a sample, the 11 fields of `METADATA_COLUMNS` separated by single spaces:
  `imgs/<batch> sample_<i>.png <i> <label> <continuity> <contour length> <distractor length> <paddle length>
  <thickness> <clearance> 1` (continuity = 90 / max_turn as the original generator names it; its "paddle margin"
  column holds our clearance between contours, in pixels; one contrast level);
- `generator.json`: the settings the folder was made with.

Batches hold `samples_per_batch` samples (the last one the rest). Within a batch the labels are a shuffled list of
alternating 0 and 1, so a batch has as many of each as it can (they differ by at most one). Batch `b`'s labels come
from a generator seeded by `SeedSequence(seed, spawn_key=(b, 0))` and its sample `i` from one seeded by
`SeedSequence(seed, spawn_key=(b, i + 1))`: one seed gives byte-identical files whatever the number of workers.

Each batch is written by one worker: its PNG files (each atomically), then its metadata file (atomically) last. A
batch whose metadata file exists is complete and is kept; any other is (re)drawn, so an interrupted run resumes
where it stopped. A folder made with other settings (another `generator.json`) is refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image
from zoo.tasks.base import DataError
from zoo.tasks.lra.pathfinder import pathfinder_subdir
from zoo.tasks.lra.pathfinder_draw import PathfinderSpec, Sample, draw_sample, lra_spec
from zoo.tasks.parallel import default_workers, parallel_map
from zoo.tasks.prepare import default_out, register_preparer

from zoo.atomic import atomic_write_bytes, atomic_write_text

SETTINGS_FILE = "generator.json"
GENERATOR_VERSION = 1
AUTOMATIC_OUT = "<data dir>/lra/pathfinder<resolution>"  # the --out default, resolved by the preparer


def batch_labels(seed: int, batch: int, count: int) -> list[int]:
    """The labels of batch `batch`: `count` alternating 0s and 1s (0 first), shuffled."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(batch, 0)))
    return rng.permutation(np.arange(count) % 2).tolist()


def draw_batch(spec: PathfinderSpec, seed: int, batch: int, count: int) -> list[Sample]:
    """The `count` samples of batch `batch` of a data set seeded with `seed` (see the module docstring)."""
    return [draw_sample(spec, label, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(batch, index + 1))))
            for index, label in enumerate(batch_labels(seed, batch, count))]


def metadata_row(spec: PathfinderSpec, batch: int, index: int, label: int) -> str:
    """One metadata line (with its newline) for sample `index` of `batch`."""
    fields = (f"imgs/{batch}", f"sample_{index}.png", index, label, f"{spec.continuity:g}", spec.contour_length,
              spec.distractor_length, f"{spec.paddle_length:g}", f"{spec.thickness:g}", spec.clearance, 1)
    return " ".join(map(str, fields)) + "\n"


def _save_png(image: np.ndarray, file: BinaryIO) -> None:
    Image.fromarray(image).save(file, format="PNG")


@dataclass(frozen=True)
class BatchJob:
    """Draw batch `batch` (`count` samples) of a data set seeded with `seed` and write it into `out`."""

    out: Path
    spec: PathfinderSpec
    seed: int
    batch: int
    count: int


def write_batch(job: BatchJob) -> int:
    """Run `job`: the PNG files, then the metadata file; returns the batch index."""
    rows = []
    for index, sample in enumerate(draw_batch(job.spec, job.seed, job.batch, job.count)):
        path = job.out / "imgs" / str(job.batch) / f"sample_{index}.png"
        atomic_write_bytes(path, functools.partial(_save_png, sample.image))
        rows.append(metadata_row(job.spec, job.batch, index, sample.label))
    atomic_write_text(job.out / "metadata" / f"{job.batch}.npy", "".join(rows))
    return job.batch


def _claim_folder(out: Path, settings: dict) -> None:
    """Record `settings` in `out/generator.json`, or check that a folder being resumed was made with them."""
    record = out / SETTINGS_FILE
    if record.is_file():
        found = json.loads(record.read_text())
        if found != settings:
            changed = sorted(key for key in settings.keys() | found.keys() if settings.get(key) != found.get(key))
            raise DataError(f"{record} records other settings ({', '.join(changed)} differ): {out} was made by "
                            "another run; give this one another --out, or delete that folder")
        return
    if (out / "metadata").exists() or (out / "imgs").exists():
        raise DataError(f"{out} holds a Pathfinder set this generator did not make (no {SETTINGS_FILE}); give "
                        "another --out")
    atomic_write_text(record, json.dumps(settings, indent=1, sort_keys=True) + "\n")


def generate_pathfinder(out: Path, spec: PathfinderSpec, num_samples: int, *, samples_per_batch: int = 1000,
                        seed: int = 0, workers: int = 1, progress: bool = True) -> Path:
    """Write (or complete) a Pathfinder set of `num_samples` samples drawn by `spec` into `out` and return it."""
    if num_samples < 1 or samples_per_batch < 1 or seed < 0 or workers < 1:
        raise ValueError(f"need num_samples, samples_per_batch, workers >= 1 and seed >= 0, got {num_samples}, "
                         f"{samples_per_batch}, {workers} and {seed}")
    out = Path(out)
    settings = {"generator": "seqzoo lra/pathfinder", "version": GENERATOR_VERSION, "spec": dataclasses.asdict(spec),
                "seed": seed, "num_samples": num_samples, "samples_per_batch": samples_per_batch}
    _claim_folder(out, settings)
    counts = [min(samples_per_batch, num_samples - start) for start in range(0, num_samples, samples_per_batch)]
    jobs = [BatchJob(out, spec, seed, batch, count) for batch, count in enumerate(counts)
            if not (out / "metadata" / f"{batch}.npy").is_file()]
    size = spec.resolution
    parallel_map(write_batch, jobs, workers=workers, description=f"drawing Pathfinder {size}x{size}", progress=progress)
    return out


def pathfinder_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `zoo data prepare lra/pathfinder`; the geometry defaults scale with --resolution."""
    parser.add_argument("--resolution", type=int, choices=(32, 64, 128, 256), default=32,
                        help="image side in pixels: 32 for lra-pathfinder, 128 for lra-pathx (default: %(default)s)")
    parser.add_argument("--num-samples", type=int, default=200_000, help="samples (default: %(default)s)")
    parser.add_argument("--samples-per-batch", type=int, default=1000,
                        help="samples per imgs/<batch> folder and metadata file (default: %(default)s)")
    parser.add_argument("--contour-length", type=int, default=14,
                        help="paddles of each target contour (LRA's hardest split: %(default)s)")
    parser.add_argument("--distractors", type=int, help="distractor contours (default: 20 // (contour length // 3))")
    parser.add_argument("--distractor-length", type=int, help="paddles of a distractor (default: contour length // 3)")
    parser.add_argument("--paddle-length", type=float, help="pixels (default: 2 at 32, scaled with the resolution)")
    parser.add_argument("--thickness", type=float, help="stroke width in pixels (default: 0.5 at 32, scaled)")
    parser.add_argument("--max-turn", type=float, help="largest turn between paddles, degrees (default: 50)")
    parser.add_argument("--marker-radius", type=float, help="pixels (default: 1 at 32, scaled)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same files (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="processes; the files do not depend on it (default: the CPUs, %(default)s)")


@register_preparer("lra/pathfinder", "generate LRA Pathfinder / Path-X (imgs/, metadata/) from its spec",
                   pathfinder_arguments, out=lambda: Path(AUTOMATIC_OUT))
def prepare_pathfinder(args: argparse.Namespace) -> Path:
    """Run `generate_pathfinder` with the command line's options; bad options raise `DataError` naming them."""
    try:
        spec = lra_spec(args.resolution, args.contour_length, distractors=args.distractors,
                        distractor_length=args.distractor_length, paddle_length=args.paddle_length,
                        thickness=args.thickness, max_turn=args.max_turn, marker_radius=args.marker_radius)
    except ValueError as error:
        raise DataError(f"zoo data prepare lra/pathfinder: {error}") from None
    if min(args.num_samples, args.samples_per_batch, args.workers) < 1 or args.seed < 0:
        raise DataError("zoo data prepare lra/pathfinder: --num-samples, --samples-per-batch and --workers must be "
                        f">= 1 and --seed >= 0, got {args.num_samples}, {args.samples_per_batch}, {args.workers} and "
                        f"{args.seed}")
    out = default_out(pathfinder_subdir(args.resolution)) if args.out == Path(AUTOMATIC_OUT) else args.out
    return generate_pathfinder(out, spec, args.num_samples, samples_per_batch=args.samples_per_batch,
                               seed=args.seed, workers=args.workers)
