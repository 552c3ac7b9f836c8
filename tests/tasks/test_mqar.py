"""MQAR generator properties, config validation, the cached data module and the task registry."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from zoo.tasks import (
    MQARConfig,
    MQARDataModule,
    TaskIO,
    UnknownTaskError,
    generate_mqar,
    get_task,
    list_tasks,
)
from zoo.tasks.base import default_data_dir

SEED = random.SystemRandom().randrange(2**31)


def _generate(n=300, seq_len=64, pairs=4, vocab=256, power_a=0.01, seed=SEED):
    return generate_mqar(n, seq_len, pairs, vocab, power_a, seed)


@pytest.mark.parametrize(("seq_len", "pairs", "vocab"), [(64, 4, 256), (33, 8, 18), (128, 16, 8192), (16, 4, 64)])
def test_generator_layout(seq_len, pairs, vocab):
    inputs, labels = _generate(n=300, seq_len=seq_len, pairs=pairs, vocab=vocab)
    n, half, context = 300, vocab // 2, 2 * pairs
    assert inputs.shape == labels.shape == (n, seq_len)
    assert inputs.dtype == labels.dtype == torch.long

    keys, values = inputs[:, 0:context:2], inputs[:, 1:context:2]
    assert ((keys >= 1) & (keys < half)).all()
    assert ((values >= half) & (values < vocab)).all()
    for tokens in (keys, values):
        assert (tokens.sort(dim=1).values.diff(dim=1) != 0).all(), "keys and values are distinct per example"

    labelled = labels != -100
    assert not labelled[:, :context].any(), "no label inside the context"
    assert (labelled.sum(dim=1) == pairs).all()
    # The query region holds key-range tokens exactly at the labelled positions; filler is value-range.
    query_region = inputs[:, context:]
    is_key_token = query_region < half
    assert torch.equal(is_key_token, labelled[:, context:])
    assert (query_region >= 1).all() and (query_region < vocab).all()
    # Queries sit at even offsets into the query region (the first position of a two-position slot).
    offsets = labelled[:, context:].nonzero()[:, 1]
    assert (offsets % 2 == 0).all() and (offsets < 2 * ((seq_len - context) // 2)).all()

    # Each context key occurs exactly once in the query region ...
    matches = query_region.unsqueeze(1) == keys.unsqueeze(2)  # [n, pairs, T - context]
    assert (matches.sum(dim=2) == 1).all()
    # ... and the label there is the value bound to that key in the context.
    position = context + matches.float().argmax(dim=2)  # [n, pairs]
    assert torch.equal(labels.gather(1, position), values)


def test_generator_is_deterministic_in_seed():
    first, second, other = _generate(seed=SEED), _generate(seed=SEED), _generate(seed=SEED + 1)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_power_law_skews_queries_toward_the_start_of_the_query_region():
    seq_len, pairs = 256, 4
    _, labels = _generate(n=2000, seq_len=seq_len, pairs=pairs, power_a=0.01)
    slots = (labels[:, 2 * pairs :] != -100).nonzero()[:, 1].float() / 2
    num_slots = (seq_len - 2 * pairs) // 2
    uniform_mean = (num_slots - 1) / 2
    assert slots.mean() < 0.6 * uniform_mean  # about 0.4 * uniform_mean for a = 0.01
    _, flat = _generate(n=2000, seq_len=seq_len, pairs=pairs, power_a=1.0)
    flat_slots = (flat[:, 2 * pairs :] != -100).nonzero()[:, 1].float() / 2
    assert abs(flat_slots.mean() - uniform_mean) < 0.1 * uniform_mean  # a = 1 is uniform


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"seq_len": 15, "num_kv_pairs": 4}, "seq_len"),
        ({"vocab_size": 9, "num_kv_pairs": 4}, "vocab_size"),
        ({"num_kv_pairs": 0}, "num_kv_pairs"),
        ({"power_a": 0.0}, "power_a"),
        ({"num_val": 0}, "num_val"),
        ({"seed": -1}, "seed"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        MQARConfig(**overrides)


def test_smallest_valid_sizes_are_accepted():
    MQARConfig(seq_len=16, num_kv_pairs=4, vocab_size=10)
    generate_mqar(3, 16, 4, 10, 0.01, SEED)


def _config(tmp_path: Path, **overrides) -> MQARConfig:
    sizes = dict(num_train=200, num_val=50, num_test=30, batch_size=16, seed=SEED % 1000)
    return MQARConfig(data_dir=str(tmp_path), **{**sizes, **overrides})


def test_datamodule_caches_and_serves_batches(tmp_path):
    dm = MQARDataModule(_config(tmp_path))
    assert dm.io == TaskIO(inputs="tokens", outputs="lm", num_outputs=256, vocab_size=256) and dm.io.per_token
    dm.prepare_data()
    files = sorted((tmp_path / "mqar").iterdir())
    assert files == sorted([dm.cache.path, dm.cache.manifest])
    mtime = dm.cache.path.stat().st_mtime_ns

    MQARDataModule(_config(tmp_path)).prepare_data()
    assert dm.cache.path.stat().st_mtime_ns == mtime, "a valid cache is not regenerated"
    assert MQARDataModule(_config(tmp_path, power_a=0.5)).cache.path != dm.cache.path

    dm.setup("fit")
    for loader, size in ((dm.train_dataloader(), 200), (dm.val_dataloader(), 50), (dm.test_dataloader(), 30)):
        batch = next(iter(loader))
        assert set(batch) == {"inputs", "targets"}
        assert batch["inputs"].shape == batch["targets"].shape == (16, 64)
        assert batch["inputs"].dtype == batch["targets"].dtype == torch.long
        assert len(loader.dataset) == size
        assert ((batch["targets"] != -100).sum(dim=1) == 4).all()

    again = MQARDataModule(_config(tmp_path))
    again.setup("fit")
    assert torch.equal(next(iter(again.train_dataloader()))["inputs"], next(iter(dm.train_dataloader()))["inputs"])
    splits = [dm.datasets[split].tensors["inputs"] for split in ("train", "val", "test")]
    assert not torch.equal(splits[1], splits[0][:50]), "splits use distinct seeds"


def test_corrupt_cache_is_regenerated_with_a_warning(tmp_path):
    dm = MQARDataModule(_config(tmp_path))
    dm.prepare_data()
    expected = torch.load(dm.cache.path, weights_only=True)
    dm.cache.path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="rebuilding"):
        dm.prepare_data()
    reloaded = torch.load(dm.cache.path, weights_only=True)
    assert torch.equal(reloaded["train"]["input_ids"], expected["train"]["input_ids"])
    names = sorted(p.name for p in dm.cache.path.parent.iterdir())
    assert names == sorted([dm.cache.path.name, dm.cache.manifest.name]), "no temporary file left"


def test_config_from_mapping_and_omegaconf(tmp_path):
    structured = OmegaConf.merge(OmegaConf.structured(MQARConfig), {"data_dir": str(tmp_path), "seq_len": 32})
    assert MQARDataModule(structured).config == MQARConfig(data_dir=str(tmp_path), seq_len=32)
    with pytest.raises(ValueError, match="seq_len"):
        MQARDataModule({"seq_len": 8})
    with pytest.raises(ValueError, match="'seqlen'.*valid keys:.*seq_len"):
        MQARDataModule({"seqlen": 32})


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQZOO_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    assert MQARDataModule(MQARConfig()).data_dir == tmp_path
    monkeypatch.delenv("SEQZOO_DATA")
    assert default_data_dir() == Path("~/.cache/seqzoo").expanduser()


def test_registry():
    assert "mqar" in list_tasks()
    assert get_task("mqar") == (MQARConfig, MQARDataModule)
    with pytest.raises(UnknownTaskError, match=r"unknown task 'nope'; choose one of: .*mqar") as info:
        get_task("nope")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith("unknown task 'nope'")


def test_tasks_import_neither_models_nor_kernels():
    tasks_dir = Path(__file__).resolve().parents[2] / "tasks"
    for path in tasks_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("zoo.models", "zoo.kernels", "..")), f"{path} imports {name}"
