"""Generate LRA ListOps from its spec (Nangia & Bowman, 2018; Tay et al., 2021): `zoo data prepare lra/listops`.

Trees: a node at depth `d` (the root has depth 1) draws `r` uniform in [0, 1) when `d < max_depth`; `r > 0.25` (and
every node at `max_depth`) makes a leaf, a digit 0-9 drawn uniformly; otherwise the node is an operator drawn
uniformly from MIN, MAX, MED, SM with 2-10 children (uniform). Values: MIN and MAX as named, MED = int(median) (the
mean of the two middle values, rounded down, for an even count), SM = sum mod 10. The length of a tree counts its
tokens without parentheses (one per digit, operator and closing `]`); trees are kept when
`min_length < length < max_length` (LRA: 500 < length < 2000) and the others are drawn again.

Text (the layout of the LRA release): a leaf is its digit; an operator with children `c1 ... cn` is the
left-nested pairs `( ( ... ( ( OP c1 ) c2 ) ... cn ) ] )`, e.g. `( ( ( ( [SM 2 ) 6 ) 5 ) ] )` (= 3), every token
separated by one space.

Files written into `out`: `basic_train.tsv`, `basic_val.tsv`, `basic_test.tsv`, UTF-8, lines ending in `\\n`, a
header `Source<TAB>Target`, then one example a line: the Source text, a tab, the Target digit. No Source occurs
twice in the three files.

Determinism: examples are drawn in chunks of `examples_per_chunk` trees, chunk `i` from its own generator seeded
by a hash of `(seed, i)`; the files take the chunks' examples in chunk order (train first, then val, then test),
dropping repeats. So one seed gives byte-identical files whatever the number of workers. Every label is checked
against `listops_evaluate.evaluate_source` (which reads only the text) before anything is written; a mismatch
raises `LabelMismatchError`. The three files appear together or not at all (`atomic_directory`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import random
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.progress import track
from zoo.tasks.base import DataError
from zoo.tasks.lra.listops import HEADER, SPLIT_FILES
from zoo.tasks.lra.listops_evaluate import ListOpsSyntaxError, evaluate_source
from zoo.tasks.parallel import default_workers, parallel_map
from zoo.tasks.prepare import register_preparer

from zoo.atomic import atomic_directory

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
OPERATOR_PROBABILITY = 0.25  # below max_depth, r <= this makes an operator, r > this a leaf
MIN_CHILDREN, MAX_CHILDREN = 2, 10

Tree = int | tuple[str, list["Tree"]]  # a digit, or (operator, children)


class LabelMismatchError(RuntimeError):
    """A generated label disagrees with the independent evaluator: a bug in the generator or the evaluator."""


@dataclass(frozen=True)
class TreeSpec:
    """The trees to draw: at most `max_depth` levels, lengths strictly between `min_length` and `max_length`."""

    max_depth: int = 10
    min_length: int = 500
    max_length: int = 2000

    def __post_init__(self) -> None:
        if self.max_depth < 1:
            raise ValueError(f"max_depth must be >= 1, got {self.max_depth}")
        if self.min_length < 0 or self.max_length - self.min_length < 2:
            raise ValueError(f"need 0 <= min_length and min_length + 1 < max_length (lengths strictly between), "
                             f"got min_length {self.min_length}, max_length {self.max_length}")
        if largest_length(self.max_depth) <= self.min_length:
            raise ValueError(f"no tree of depth <= {self.max_depth} is longer than min_length {self.min_length} "
                             f"(the largest has {largest_length(self.max_depth)} tokens); raise max_depth")


def largest_length(max_depth: int) -> int:
    """Tokens of the largest tree of `max_depth` levels (every operator with the most children)."""
    return 1 if max_depth == 1 else 2 + MAX_CHILDREN * largest_length(max_depth - 1)


class _TooLong(Exception):
    """Raised inside `draw_tree` as soon as a tree reaches its length limit (it would be rejected anyway)."""


def draw_tree(rng: random.Random, max_depth: int, length_limit: int) -> Tree | None:
    """One tree of the spec in the module docstring, or None once it reaches `length_limit` tokens.

    Stopping early saves drawing the rest of a tree that is rejected whatever the rest holds; the accepted trees
    are distributed as if every tree were drawn whole and then filtered.
    """
    length = 0

    def draw(depth: int) -> Tree:
        nonlocal length
        length += 1
        if length >= length_limit:
            raise _TooLong
        if depth < max_depth and rng.random() <= OPERATOR_PROBABILITY:
            operator = rng.choice(OPERATORS)
            children = [draw(depth + 1) for _ in range(rng.randint(MIN_CHILDREN, MAX_CHILDREN))]
            length += 1  # the closing `]`
            if length >= length_limit:
                raise _TooLong
            return operator, children
        return rng.randrange(10)

    try:
        return draw(1)
    except _TooLong:
        return None


def tree_length(tree: Tree) -> int:
    """Tokens of `tree` without parentheses: digits, operators and closing brackets."""
    if isinstance(tree, int):
        return 1
    return 2 + sum(tree_length(child) for child in tree[1])


def tree_value(tree: Tree) -> int:
    """The answer of `tree` (0-9), computed from the tree itself."""
    if isinstance(tree, int):
        return tree
    operator, children = tree
    values = [tree_value(child) for child in children]
    if operator == "[MIN":
        return min(values)
    if operator == "[MAX":
        return max(values)
    if operator == "[MED":
        return int(statistics.median(values))
    return sum(values) % 10


def render(tree: Tree) -> str:
    """The release's text of `tree` (see the module docstring)."""
    if isinstance(tree, int):
        return str(tree)
    operator, children = tree
    return "( " * (len(children) + 1) + operator + " " + " ) ".join(map(render, children)) + " ) ] )"


def chunk_seed(seed: int, index: int) -> int:
    """The seed of chunk `index` of a data set seeded with `seed` (64 bits of a SHA-256)."""
    return int.from_bytes(hashlib.sha256(f"lra/listops:{seed}:{index}".encode()).digest()[:8], "little")


@dataclass(frozen=True)
class ChunkJob:
    """Draw `size` accepted trees for chunk `index` and write them to `folder / chunk_file_name(index)`."""

    seed: int
    index: int
    size: int
    spec: TreeSpec
    folder: Path


def chunk_file_name(index: int) -> str:
    """The file of chunk `index` in the staging folder."""
    return f"chunk-{index:06d}.tsv"


def generate_chunk(job: ChunkJob) -> int:
    """Run `job`: lines `<Source>\\t<Target>\\n`, each label checked by the evaluator; returns the chunk index."""
    rng = random.Random(chunk_seed(job.seed, job.index))
    lines = []
    while len(lines) < job.size:
        tree = draw_tree(rng, job.spec.max_depth, job.spec.max_length)
        if tree is None or tree_length(tree) <= job.spec.min_length:
            continue
        source, target = render(tree), tree_value(tree)
        try:
            answer = evaluate_source(source)
        except ListOpsSyntaxError as error:
            raise LabelMismatchError(f"chunk {job.index}, example {len(lines)}: the evaluator cannot read the "
                                     f"generated text ({error}): {source[:300]}") from error
        if answer != target:
            raise LabelMismatchError(f"chunk {job.index}, example {len(lines)}: the generator's value {target} but "
                                     f"the evaluator reads {answer} from {source[:300]}")
        lines.append(f"{source}\t{target}\n")
    (job.folder / chunk_file_name(job.index)).write_text("".join(lines), encoding="utf-8")
    return job.index


def _merge_chunks(folder: Path, indices: range, outputs: list[TextIO], left: list[int], seen: set[bytes],
                  progress: bool) -> None:
    """Append the chunks' examples, in chunk order, to the split files (`outputs`: train, val, test) until each
    has its number (`left`, counted down); a Source already in `seen` (a digest) is dropped."""
    for index in track(indices, description="merging ListOps chunks", disable=not progress or len(indices) < 2):
        path = folder / chunk_file_name(index)
        with open(path, encoding="utf-8") as chunk:
            for line in chunk:
                if not any(left):
                    break
                digest = hashlib.blake2b(line.rsplit("\t", 1)[0].encode(), digest_size=16).digest()
                if digest in seen:
                    continue
                seen.add(digest)
                split = next(position for position, count in enumerate(left) if count)
                outputs[split].write(line)
                left[split] -= 1
        path.unlink()


def generate_listops(out: Path, sizes: tuple[int, int, int] = (96_000, 2_000, 2_000), *, seed: int = 0,
                     spec: TreeSpec = TreeSpec(), workers: int = 1, examples_per_chunk: int = 1_000,
                     progress: bool = True) -> Path:
    """Write `basic_{train,val,test}.tsv` with `sizes` examples into the folder `out` and return it.

    `out` must not exist or hold only these files: it is replaced whole, so that the three appear together.
    `workers` processes draw the chunks (the files do not depend on it); `examples_per_chunk` is part of the
    recipe (another value draws other examples); `progress` shows bars.
    """
    if min(sizes) < 1 or examples_per_chunk < 1:
        raise ValueError(f"every split needs >= 1 example and examples_per_chunk >= 1, got sizes {sizes}, "
                         f"examples_per_chunk {examples_per_chunk}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file; give the ListOps preparer a folder (--out)")
    present = out.iterdir() if out.is_dir() else ()
    strangers = sorted(path.name for path in present if path.name not in SPLIT_FILES.values())
    if strangers:
        raise DataError(f"{out} holds other files ({', '.join(strangers[:5])}); the ListOps preparer replaces its "
                        "folder whole, so give it (--out) a new or empty folder, or one holding only basic_*.tsv")
    with atomic_directory(out) as folder:
        staging = folder / "chunks"
        staging.mkdir()
        left, seen, next_chunk = list(sizes), set(), 0
        with contextlib.ExitStack() as files:
            outputs = [files.enter_context(open(folder / name, "w", encoding="utf-8", newline=""))
                       for name in SPLIT_FILES.values()]
            for output in outputs:
                output.write(HEADER + "\n")
            while any(left):  # more than one round only when repeats were dropped
                missing = sum(left)
                count = math.ceil(missing / examples_per_chunk)
                jobs = [ChunkJob(seed, next_chunk + offset, examples_per_chunk, spec, staging)
                        for offset in range(count)]
                parallel_map(generate_chunk, jobs, workers=workers, description="generating ListOps", progress=progress)
                _merge_chunks(staging, range(next_chunk, next_chunk + count), outputs, left, seen, progress)
                next_chunk += count
                if sum(left) == missing:
                    raise DataError(f"ListOps: {len(seen)} distinct trees found, {sum(sizes)} asked for; these "
                                    f"lengths and depth ({spec}) allow few trees: ask for fewer or widen them")
        shutil.rmtree(staging)
    return out


def listops_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `zoo data prepare lra/listops`."""
    parser.add_argument("--num-train", type=int, default=96_000, help="training examples (default: %(default)s)")
    parser.add_argument("--num-val", type=int, default=2_000, help="validation examples (default: %(default)s)")
    parser.add_argument("--num-test", type=int, default=2_000, help="test examples (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same files (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="processes; the files do not depend on it (default: the CPUs, %(default)s)")
    parser.add_argument("--max-depth", type=int, default=10, help="levels of a tree at most (default: %(default)s)")
    parser.add_argument("--min-length", type=int, default=500,
                        help="keep trees longer than this, in tokens without parentheses (default: %(default)s)")
    parser.add_argument("--max-length", type=int, default=2000,
                        help="keep trees shorter than this (default: %(default)s)")


@register_preparer("lra/listops", "generate LRA ListOps (basic_{train,val,test}.tsv) from its spec", listops_arguments)
def prepare_listops(args: argparse.Namespace) -> Path:
    """Run `generate_listops` with the command line's options; bad options raise `DataError` naming them."""
    sizes = (args.num_train, args.num_val, args.num_test)
    if min(sizes) < 1 or args.workers < 1:
        raise DataError(f"zoo data prepare lra/listops: --num-train, --num-val, --num-test and --workers must be "
                        f">= 1, got {sizes[0]}, {sizes[1]}, {sizes[2]} and {args.workers}")
    try:
        spec = TreeSpec(args.max_depth, args.min_length, args.max_length)
    except ValueError as error:
        raise DataError(f"zoo data prepare lra/listops: {error} (--max-depth, --min-length, --max-length)") from None
    return generate_listops(args.out, sizes, seed=args.seed, spec=spec, workers=args.workers)
