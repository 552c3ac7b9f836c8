"""LRA ListOps: the independent evaluator on hand-written trees, the generator (spec, release text layout, lengths,
labels, determinism whatever the workers, all-or-nothing files), LRA's tokenisation, the loader's errors on
malformed lines, the data module's padded batches, the registered task and preparer."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
import torch
from files_listops import write_listops
from zoo.tasks import DataError, get_task
from zoo.tasks.base import default_data_dir
from zoo.tasks.lra import listops_generate
from zoo.tasks.lra.listops import (
    EOS,
    PAD,
    VOCABULARY,
    ListOpsConfig,
    ListOpsDataModule,
    encode_source,
    read_listops,
)
from zoo.tasks.lra.listops_evaluate import ListOpsSyntaxError, evaluate_source
from zoo.tasks.lra.listops_generate import (
    ChunkJob,
    LabelMismatchError,
    TreeSpec,
    draw_tree,
    generate_chunk,
    generate_listops,
    render,
    tree_length,
    tree_value,
)
from zoo.tasks.prepare import get_preparer

from zoo.cli import main

FILES = ("basic_train.tsv", "basic_val.tsv", "basic_test.tsv")


def read_rows(path) -> list[tuple[str, int]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "Source\tTarget" and lines[-1] == "", f"{path}: header or final newline"
    rows = [line.split("\t") for line in lines[1:-1]]
    assert all(len(row) == 2 for row in rows), f"{path}: a line without exactly two fields"
    return [(source, int(target)) for source, target in rows]


def length_without_parentheses(source: str) -> int:
    return sum(token not in ("(", ")") for token in source.split())


@pytest.mark.parametrize("source, answer", [
    ("( ( ( ( [SM 2 ) 6 ) 5 ) ] )", 3),  # 13 mod 10
    ("( ( ( ( [SM 9 ) 9 ) 9 ) ] )", 7),  # 27 mod 10
    ("( ( ( [MAX 2 ) ( ( ( [MIN 9 ) 4 ) ] ) ) ] )", 4),
    ("( ( ( ( ( [MED 8 ) 1 ) 7 ) 2 ) ] )", 4),  # even count: (2 + 7) / 2 = 4.5 -> 4
    ("( ( ( ( ( [MED 3 ) 3 ) 9 ) 0 ) ] )", 3),  # even count: (3 + 3) / 2
    ("( ( ( ( [MED 9 ) 1 ) 5 ) ] )", 5),
    ("( ( ( ( [MIN 7 ) ( ( ( ( [SM 5 ) 5 ) 0 ) ] ) ) 3 ) ] )", 0),  # SM 10 -> 0 is the minimum
    ("[MAX 1 [MED 6 8 ] [SM 4 4 ] ]", 8),  # parentheses are optional to the evaluator
    ("7", 7),
])
def test_evaluator_answers_hand_written_trees(source, answer):
    assert evaluate_source(source) == answer


@pytest.mark.parametrize("source", [
    "", "( )", "[MAX 2", "[MAX ]", "2 3", "[MAX 2 ] 3", "]", "[FOO 2 ]", "[MAX 12 ]", "( [MAX 2 ]", "[MAX 2 ] )",
])
def test_evaluator_rejects_what_is_not_one_expression(source):
    with pytest.raises(ListOpsSyntaxError):
        evaluate_source(source)


def test_trees_render_in_the_release_layout():
    tree = ("[MAX", [2, ("[MIN", [9, 4])])
    assert render(tree) == "( ( ( [MAX 2 ) ( ( ( [MIN 9 ) 4 ) ] ) ) ] )"
    assert render(("[SM", [2, 6, 5])) == "( ( ( ( [SM 2 ) 6 ) 5 ) ] )"
    assert (tree_value(tree), tree_length(tree)) == (4, 7)  # [MAX 2 [MIN 9 4 ] ]
    assert tree_value(("[MED", [1, 2, 7, 8])) == 4


def test_tree_statistics_follow_the_spec(seed, bound):
    """Unfiltered trees of depth <= 4: each node above the last level is an operator with probability 0.25, with
    2-10 children (mean 6), operators uniform; leaves uniform over 0-9. From 20,000 trees (about 95,000 draws of r,
    24,000 operators, 138,000 leaves) each tolerance is about 10 standard errors; worst over 200 seeds
    (`--sweep --count 200`): 0.33 of a tolerance."""
    rng = random.Random(seed)
    decisions, operators, children, leaves = 0, Counter(), [], Counter()

    def walk(tree, depth):
        nonlocal decisions
        decisions += depth < 4
        if isinstance(tree, int):
            leaves[tree] += 1
            return
        assert depth < 4, f"an operator at the last level (seed={seed})"
        operators[tree[0]] += 1
        children.append(len(tree[1]))
        for child in tree[1]:
            walk(child, depth + 1)

    for _ in range(20_000):
        walk(draw_tree(rng, max_depth=4, length_limit=10**9), 1)
    total_operators = sum(operators.values())
    bound(abs(total_operators / decisions - 0.25), 0.014, "share of operators among nodes above the last level")
    bound(abs(sum(children) / len(children) - 6), 0.17, "mean number of children")
    assert set(children) == set(range(2, 11)), f"children counts {sorted(set(children))} (seed={seed})"
    bound(max(abs(count / total_operators - 0.25) for count in operators.values()), 0.03, "operator frequencies")
    bound(max(abs(count / sum(leaves.values()) - 0.1) for count in leaves.values()), 0.008, "leaf digit frequencies")
    assert len(operators) == 4 and len(leaves) == 10, f"operators {operators}, leaves {leaves} (seed={seed})"


def test_chunks_at_the_lra_lengths_are_in_range_and_verified(tmp_path, seed):
    generate_chunk(ChunkJob(seed, 0, 8, TreeSpec(), tmp_path))
    rows = [line.split("\t") for line in (tmp_path / "chunk-000000.tsv").read_text().splitlines()]
    assert len(rows) == 8
    for source, target in rows:
        assert 500 < length_without_parentheses(source) < 2000, f"length out of (500, 2000) (seed={seed})"
        assert evaluate_source(source) == int(target), f"label (seed={seed})"


def test_generated_files_have_the_layout_sizes_lengths_and_verified_labels(tmp_path, seed):
    folder = write_listops(tmp_path / "listops", seed, sizes=(150, 30, 20), min_length=10, max_length=60)
    assert sorted(path.name for path in folder.iterdir()) == sorted(FILES)
    splits = [read_rows(folder / name) for name in FILES]
    assert [len(rows) for rows in splits] == [150, 30, 20]
    sources = [source for rows in splits for source, _ in rows]
    assert len(set(sources)) == len(sources), f"a Source occurs twice (seed={seed})"
    for source, target in (row for rows in splits for row in rows):
        assert 10 < length_without_parentheses(source) < 60, f"{source} (seed={seed})"
        assert " ".join(source.split()) == source, f"tokens not separated by single spaces (seed={seed})"
        assert evaluate_source(source) == target, f"{source} labelled {target} (seed={seed})"
    assert len({target for rows in splits for _, target in rows}) >= 5, f"labels barely vary (seed={seed})"


def test_same_seed_same_bytes_whatever_the_workers(tmp_path, seed):
    def generate(name, workers, data_seed):
        return generate_listops(tmp_path / name, (40, 10, 10), seed=data_seed, spec=TreeSpec(10, 10, 60),
                                workers=workers, examples_per_chunk=7, progress=False)

    one, two, other = generate("one", 1, seed), generate("two", 2, seed), generate("other", 1, seed + 1)
    for name in FILES:
        assert (one / name).read_bytes() == (two / name).read_bytes(), f"{name} differs with 2 workers (seed={seed})"
    assert (one / FILES[0]).read_bytes() != (other / FILES[0]).read_bytes(), f"seed ignored (seed={seed})"


def test_a_wrong_label_is_an_error_and_writes_nothing(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(listops_generate, "tree_value", lambda tree: 10)
    with pytest.raises(LabelMismatchError, match="the evaluator reads"):
        write_listops(tmp_path / "listops", seed)
    assert list(tmp_path.iterdir()) == [], "a failed generation left files behind"


def test_generation_refuses_a_folder_holding_other_files(tmp_path, seed):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="notes.txt"):
        write_listops(tmp_path, seed)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_a_tree_space_too_small_for_the_sizes_is_an_error(tmp_path, seed):
    # depth 2, length 4: only "[OP d d ]", 4 x 100 distinct trees
    with pytest.raises(DataError, match="distinct trees found"):
        generate_listops(tmp_path / "few", (500, 1, 1), seed=seed, spec=TreeSpec(2, 3, 5), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_tokens_ids_eos_and_truncation():
    assert len(VOCABULARY) == 18 and (VOCABULARY[PAD], VOCABULARY[EOS]) == ("<pad>", "<eos>")
    source = "( ( ( [MAX 2 ) ( ( ( [MIN 9 ) 4 ) ] ) ) ] )"
    ids = encode_source(source, max_length=2048)
    assert [VOCABULARY[index] for index in ids] == ["[MAX", "2", "[MIN", "9", "4", "X", "X", "<eos>"]
    assert ids == [14, 5, 13, 12, 7, 17, 17, 2]
    assert encode_source(source, max_length=4) == [14, 5, 13, 2]  # the first max_length - 1 tokens, then <eos>
    assert encode_source(source, max_length=8) == ids
    assert encode_source("\t 3  ", max_length=5) == [6, 2]


def write_split_files(folder, val_lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    good = "Source\tTarget\n( ( ( [MAX 2 ) 9 ) ] )\t9\n( ( ( [SM 5 ) 7 ) ] )\t2\n"
    (folder / "basic_train.tsv").write_text(good)
    (folder / "basic_test.tsv").write_text(good)
    (folder / "basic_val.tsv").write_text("".join(line + "\n" for line in val_lines))


@pytest.mark.parametrize("bad_line, message", [
    ("( ( ( [MAX 2 ) 9 ) ] )\t9\textra", "3 tab-separated field"),
    ("( ( ( [MAX 2 ) 9 ) ] )", "1 tab-separated field"),
    ("", "1 tab-separated field"),
    ("( ( ( [MAX 2 ) 9 ) ] )\t10", "not a digit 0-9"),
    ("( ( ( [MAX 2 ) 9 ) ] )\t-1", "not a digit 0-9"),
    ("( ( ( [MAX 2 ) 9 ) ] )\t", "not a digit 0-9"),
    ("( ( ( [MAX 2 ) 12 ) ] )\t9", "unknown token '12'"),
    ("( ( ( [MAXI 2 ) 9 ) ] )\t9", "unknown token '[MAXI'"),
    ("\t3", "holds no token"),
    ("( ( ) )\t3", "holds no token"),
])
def test_malformed_lines_name_the_file_and_line(tmp_path, bad_line, message):
    write_split_files(tmp_path, ["Source\tTarget", "( ( ( [MIN 2 ) 9 ) ] )\t2", bad_line])
    with pytest.raises(DataError, match=re.escape(message)) as error:
        ListOpsDataModule(ListOpsConfig(data_dir=str(tmp_path))).setup()
    assert f"{tmp_path / 'basic_val.tsv'}, line 3" in str(error.value)


@pytest.mark.parametrize("lines, message", [
    ([], "is empty"),
    (["Source\tLabel", "( ( ( [MAX 2 ) 9 ) ] )\t9"], "lacks \\['Target'\\]"),
    (["Source\tTarget"], "no examples"),
])
def test_bad_files_are_named(tmp_path, lines, message):
    write_split_files(tmp_path, lines)
    with pytest.raises(DataError, match=message):
        read_listops(tmp_path / "basic_val.tsv", 2048)
    with pytest.raises(DataError, match="not found.*zoo data prepare lra/listops"):
        read_listops(tmp_path / "basic_missing.tsv", 2048)


def test_columns_are_found_by_name_and_long_sources_cut(tmp_path):
    write_split_files(tmp_path, ["Target\tSource", "4\t( ( ( [MED 8 ) 1 ) ] )"])
    examples = read_listops(tmp_path / "basic_val.tsv", 2048)
    assert examples[0]["inputs"].tolist() == [15, 11, 4, 17, 2] and examples[0]["targets"].item() == 4
    assert read_listops(tmp_path / "basic_val.tsv", 3)[0]["inputs"].tolist() == [15, 11, 2]  # cut, then <eos>


def test_data_module_serves_padded_batches_with_lengths(tmp_path, seed):
    folder = write_listops(tmp_path / "listops", seed, sizes=(60, 24, 12))
    module = ListOpsDataModule({"data_dir": str(folder), "batch_size": 8, "max_length": 40})
    io = module.io
    assert (io.inputs, io.outputs, io.num_outputs, io.vocab_size, io.metrics) == (
        "tokens", "classifier", 10, 18, ("accuracy",))
    module.setup()
    assert {split: len(data) for split, data in module.datasets.items()} == {"train": 60, "val": 24, "test": 12}
    rows = read_rows(folder / "basic_val.tsv")
    batch = next(iter(module.val_dataloader()))
    inputs, lengths = batch["inputs"], batch["lengths"]
    assert inputs.dtype == torch.long and inputs.shape == (8, int(lengths.max()))
    assert batch["targets"].tolist() == [target for _, target in rows[:8]]
    for row, (source, _) in enumerate(rows[:8]):
        expected = encode_source(source, 40)
        assert int(lengths[row]) == len(expected) <= 40 and inputs[row, : len(expected)].tolist() == expected
        assert inputs[row, len(expected):].eq(PAD).all(), f"padding after row {row} (seed={seed})"
    train = next(iter(module.train_dataloader()))
    assert train["inputs"].shape[0] == 8 and (train["inputs"].gather(1, train["lengths"][:, None] - 1) == EOS).all()


def test_registered_task_preparer_and_default_folder(tmp_path, data_dir, seed):
    assert get_task("lra-listops") == (ListOpsConfig, ListOpsDataModule)
    module = ListOpsDataModule(ListOpsConfig())
    assert module.data_dir == default_data_dir() / "lra" / "listops" == data_dir / "lra" / "listops"
    assert str(module.data_dir) in module.description and "2048" in module.description
    assert ListOpsConfig().batch_size == 32 and ListOpsConfig().max_length == 2048
    with pytest.raises(ValueError, match="max_length"):
        ListOpsConfig(max_length=1)
    assert get_preparer("lra/listops").name == "lra/listops"
    options = ["--num-train", "12", "--num-val", "3", "--num-test", "3", "--seed", str(seed), "--workers", "1",
               "--min-length", "10", "--max-length", "60"]
    assert main(["data", "prepare", "lra/listops", *options]) == 0
    module.setup()
    assert [len(module.datasets[split]) for split in ("train", "val", "test")] == [12, 3, 3]
    assert main(["data", "prepare", "lra/listops", *options, "--min-length", "60"]) == 2
    assert main(["data", "prepare", "lra/listops", *options, "--max-depth", "2", "--min-length", "12"]) == 2
