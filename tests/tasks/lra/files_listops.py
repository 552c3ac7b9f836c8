"""A small ListOps data set in the LRA release's layout, made by the real generator (for loader and training tests).

Import it as `from files_listops import write_listops` from a test in this folder, or as
`from tests.tasks.lra.files_listops import write_listops` from elsewhere (the repository root is on pytest's path).
"""

from __future__ import annotations

from pathlib import Path

from zoo.tasks.lra.listops_generate import TreeSpec, generate_listops


def write_listops(folder: Path, seed: int, sizes=(200, 40, 40), min_length: int = 10, max_length: int = 60) -> Path:
    """Write `basic_{train,val,test}.tsv` (header `Source<TAB>Target`) with `sizes` examples into `folder` and return
    it. Trees have `min_length < length < max_length` tokens without parentheses (LRA: 500 and 2000; short here, so
    that it takes well under a second), at most 10 levels; every label is checked by the independent evaluator.
    `folder` must be new or empty (it is replaced whole)."""
    return generate_listops(Path(folder), tuple(sizes), seed=seed, spec=TreeSpec(10, min_length, max_length),
                            workers=1, examples_per_chunk=100, progress=False)
