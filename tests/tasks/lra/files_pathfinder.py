"""A small Pathfinder data set in the LRA release's layout, made by the real generator (for loader and training tests).

Import it as `from files_pathfinder import write_pathfinder` from a test in this folder, or as
`from tests.tasks.lra.files_pathfinder import write_pathfinder` from elsewhere (the repository root is on pytest's
path).
"""

from __future__ import annotations

from pathlib import Path

from zoo.tasks.lra.pathfinder_draw import lra_spec
from zoo.tasks.lra.pathfinder_generate import generate_pathfinder

SAMPLES_PER_BATCH = 32


def write_pathfinder(folder: Path, seed: int, num_samples: int = 64, resolution: int = 32) -> Path:
    """Write `num_samples` samples of LRA's `curv_contour_length_14` settings at `resolution` x `resolution` into
    `folder` (`imgs/<batch>/sample_<i>.png`, `metadata/<batch>.npy`, batches of `SAMPLES_PER_BATCH`, one process)
    and return it: the `data_dir` of an `lra-pathfinder` (32) or `lra-pathx` (128) task. About 40 samples a second
    at 32 x 32, 20 at 128 x 128."""
    return generate_pathfinder(Path(folder), lra_spec(resolution), num_samples, samples_per_batch=SAMPLES_PER_BATCH,
                               seed=seed, workers=1, progress=False)
