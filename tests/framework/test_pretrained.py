"""The checkpoints seqzoo ships (`checkpoints/`, `zoo.pretrained`): every family and task family covered, each trained
by `zoo train` from its config in `configs/pretrained/` (its card says so), found by preset and tag or by hub id
offline, small enough for the wheel, and `zoo eval` reproduces the metrics on its card exactly on CPU."""

import json

import pytest
import torch
from huggingface_hub import ModelCard
from zoo.tasks import DataError

import zoo
from zoo.evaluate import evaluate
from zoo.hub import CARD_FILE, RESULTS_FILE, training_metrics
from zoo.pretrained import checkpoints_root, shipped_checkpoints

SHIPPED = {checkpoint.folder.name: checkpoint for checkpoint in shipped_checkpoints()}
MQAR_PRESETS = {"mamba-tiny", "hybrid-tiny", "xlstm-tiny", "deltanet-tiny", "gated-deltanet-tiny", "based-tiny",
                "swa-tiny"}
TASK_FAMILIES = {"lra-listops": "ListOps", "ett": "ETTh1 forecasting", "splice": "splice-junction DNA",
                 "sfashion-mnist": "sequential Fashion-MNIST", "bacteria-lm": "a nucleotide LM"}
SIZE_LIMIT = 50 * 2**20


def test_every_family_and_task_family_ships_a_checkpoint():
    assert {c.preset for c in SHIPPED.values() if c.task == "mqar"} >= MQAR_PRESETS
    missing = {task: what for task, what in TASK_FAMILIES.items() if task not in {c.task for c in SHIPPED.values()}}
    assert not missing, f"no shipped checkpoint for {missing}"
    families = {zoo.models.get_entry(c.preset).family for c in SHIPPED.values()}
    assert families >= {"attention", "mamba", "mamba2", "mamba2-hybrid", "xlstm", "deltanet", "gated_deltanet",
                        "based"}


def test_shipped_checkpoints_fit_in_the_wheel():
    size = sum(path.stat().st_size for path in checkpoints_root().glob("*/*") if path.is_file())
    assert size <= SIZE_LIMIT, f"shipped checkpoints take {size / 2**20:.1f} MiB, more than 50 MiB"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_card_names_the_command_and_config_that_trained_it(name, request):
    checkpoint = SHIPPED[name]
    card = ModelCard.load(checkpoint.folder / CARD_FILE)
    assert f"zoo train configs/pretrained/{name}.yaml" in card.text
    assert (request.config.rootpath / "configs" / "pretrained" / f"{name}.yaml").is_file()
    assert card.data.library_name == "seqzoo" and card.data.model_name == name
    recorded = {metric: value for metric, value in training_metrics(checkpoint.folder).items()
                if metric.startswith("test/")}
    indexed = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert indexed == recorded
    config = json.loads((checkpoint.folder / "config.json").read_text())
    assert config["hub_id"] == checkpoint.hub_id == f"seqzoo/{name}" and config["preset"] == checkpoint.preset
    assert json.loads((checkpoint.folder / RESULTS_FILE).read_text())["evaluations"][0]["task"] == config["task"]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_found_by_preset_and_tag_and_by_hub_id_offline(name, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    checkpoint = SHIPPED[name]
    by_tag = zoo.create_model(checkpoint.preset, pretrained=checkpoint.tag)
    by_id = zoo.from_pretrained(checkpoint.hub_id)
    assert by_tag.provenance.hub_id == by_id.provenance.hub_id == checkpoint.hub_id and not by_tag.training
    for (key, a), b in zip(by_tag.state_dict().items(), by_id.state_dict().values()):
        assert torch.equal(a, b), key


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_zoo_eval_reproduces_the_card_exactly(name, monkeypatch):
    """The test split's metrics again, on CPU at the thread count the training ran with: bit for bit."""
    checkpoint = SHIPPED[name]
    training = json.loads((checkpoint.folder / "config.json").read_text())["training"]
    threads = torch.get_num_threads()
    torch.set_num_threads(training.get("cpu_threads", 1))
    try:
        measured = evaluate(checkpoint.folder)
    except DataError as error:
        if "zoo data prepare" not in str(error) and "not found" not in str(error):
            raise
        pytest.skip(f"{name}: its data is not on this machine ({error})")
    finally:
        torch.set_num_threads(threads)
    recorded = {k: v for k, v in training_metrics(checkpoint.folder).items() if k.startswith("test/")}
    assert measured == recorded


def test_every_pretrained_config_composes_and_has_its_checkpoint(request):
    from zoo.config import load_config

    folder = request.config.rootpath / "configs" / "pretrained"
    names = []
    for path in sorted(folder.glob("*.yaml")):
        config = load_config(path)
        if config.name != "experiment":  # a shared base (mqar.yaml) names no experiment
            assert config.name == path.stem, f"{path.name}: the experiment must be named after its checkpoint"
            names.append(path.stem)
    assert sorted(names) == sorted(SHIPPED), "every configs/pretrained/<name>.yaml has checkpoints/<name>/ and back"
