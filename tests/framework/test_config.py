"""Experiment configs: composition, overrides, and an error naming the key for each kind of mistake."""

import pytest
from omegaconf import OmegaConf
from zoo.tasks import MQARConfig

from zoo.config import ExperimentConfig, load_config, to_objects
from zoo.errors import ConfigError

EXPERIMENTS = "configs/experiments"


@pytest.fixture
def experiment(tmp_path):
    """Write an experiment YAML and return its path."""

    def write(text: str, name: str = "exp.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def test_shipped_experiments_compose(request):
    root = request.config.rootpath / EXPERIMENTS
    files = sorted(root.glob("*.yaml"))
    assert files, f"no experiments in {root}"
    for path in files:
        config = to_objects(load_config(path))
        assert isinstance(config, ExperimentConfig)
        assert isinstance(config.task, MQARConfig) or config.task.name


def test_preset_fields_then_section_then_overrides(experiment):
    path = experiment("model: {name: hybrid-tiny, d_model: 96}\ntask: {name: mqar, seq_len: 128}\n")
    config = load_config(path, ["model.mixers.mamba2.d_state=8", "trainer.max_epochs=3", "optim.lr=0.01"])
    assert config.model.name == "hybrid-tiny"
    assert list(config.model.layers) == ["mamba2", "attention"]  # from the preset
    assert config.model.d_model == 96  # from the file
    assert config.model.mixers.mamba2.d_state == 8  # from the command line
    assert config.model.mixers.mamba2.headdim == 16  # preset value kept under a partial override
    assert config.task.seq_len == 128 and config.task.num_kv_pairs == 4
    assert config.trainer.max_epochs == 3 and config.optim.lr == 0.01


def test_extends_merges_bases_first(experiment):
    experiment("name: base\nmodel: hybrid-tiny\ntask: {name: mqar, seq_len: 128}\noptim: {lr: 0.5}\n", "base.yaml")
    path = experiment("extends: base.yaml\nname: child\nmodel: {name: attention-tiny}\n")
    config = load_config(path)
    assert config.name == "child" and config.model.name == "attention-tiny"
    assert config.task.seq_len == 128 and config.optim.lr == 0.5


def test_extends_cycle_is_reported(experiment):
    experiment("extends: b.yaml\ntask: mqar\n", "a.yaml")
    path = experiment("extends: a.yaml\ntask: mqar\n", "b.yaml")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(path)


def test_resolved_config_round_trips_through_yaml(experiment, tmp_path):
    config = load_config(experiment("model: hybrid-tiny\ntask: mqar\n"), ["model.d_model=80"])
    saved = tmp_path / "saved.yaml"
    saved.write_text(OmegaConf.to_yaml(config))
    assert load_config(saved) == config


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.d_modle=3"], r"unknown config key 'model\.d_modle' \(did you mean 'model\.d_model'\?\)"),
        (["model.mixers.mamba2.dstate=3"], r"unknown config key 'model\.mixers\.mamba2\.dstate' \(did you mean "
                                           r"'model\.mixers\.mamba2\.d_state'\?\); valid keys: d_state"),
        (["model.mixers.mamba3.d_state=3"], r"'model\.mixers\.mamba3'.*unknown mixer section 'mamba3'.*mamba2"),
        (["model.encoder.kind=pixels"], r"'model\.encoder\.kind'.*unknown encoder 'pixels'.*linear, patches, tokens"),
        (["model.head.pool=median"], r"'model\.head\.pool'"),
        (["task.seqlen=3"], r"unknown config key 'task\.seqlen'.*did you mean 'task\.seq_len'"),
        (["trainr.max_epochs=1"], r"unknown config key 'trainr' \(did you mean 'trainer'\?\)"),
        (["model.d_model=abc"], r"'model\.d_model'.*Integer"),
        (["trainer.max_epochs=1.5"], r"'trainer\.max_epochs' has a wrong value"),
        (["model.name=mamba9"], r"unknown model.*mamba9.*attention-tiny.*hybrid-tiny"),
        (["task.name=imdb"], r"unknown task 'imdb'; choose one of: .*mqar"),
        (["model.layers=[attention,mamba7]"], r"'model\.layers\[1\]': 'mamba7'.*choose from: attention, .*mamba, mamba2"),
        (["model.layers=[]"], r"'model\.layers'.*empty"),
        (["trainer.precision=bf16-true"], r"'trainer\.precision'.*32-true.*bf16-mixed"),
        (["trainer.monitor_mode=up"], r"'trainer\.monitor_mode'"),
        (["task.seq_len=8"], r"section 'task'.*seq_len must be >= 4 \* num_kv_pairs = 16"),
        (["seed"], r"not of the form key=value"),
        (["model.norm=batchnorm"], r"'model\.norm': 'batchnorm' is not a norm; choose one of: rmsnorm, layernorm"),
        (["model.mlp_activation=tanh"], r"'model\.mlp_activation': 'tanh' is not an activation"),
        (["model.d_intermediate=-1"], r"'model\.d_intermediate': must be >= 0"),
        (["model.bidirectional_tied=true"], r"'model\.bidirectional_tied': is true but 'bidirectional' is false"),
    ],
)
def test_config_errors_name_the_key(experiment, overrides, message):
    path = experiment("model: hybrid-tiny\ntask: mqar\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides)


def test_a_head_override_without_kind_refines_the_head_the_task_needs(experiment, tmp_path):
    """`model.head.pool=last` on a preset that leaves its head to the task: the task's head kind (a classifier for
    text classification), not the language-model default, takes the field; elsewhere the error says how to switch."""
    (tmp_path / "train.tsv").write_text("label\ttext\na\tx\nb\ty\n")
    path = experiment(f"model: mamba2-tiny\ntask: {{name: text-classification, data_dir: {tmp_path}}}\n")
    config = load_config(path, ["model.head.pool=last", "model.encoder.vocab_size=300"])
    head, encoder = config.model.head, config.model.encoder
    assert (head.kind, head.pool, encoder.kind, encoder.vocab_size) == ("classifier", "last", "tokens", 300)
    with pytest.raises(ConfigError, match=r"'model\.head\.pool'.*the head here is 'lm': set model\.head\.kind"):
        load_config(experiment("model: hybrid-tiny\ntask: mqar\n", "mqar.yaml"), ["model.head.pool=last"])


def test_a_mixer_section_no_layer_reads_is_reported(experiment):
    with pytest.warns(UserWarning, match=r"'model\.mixers\.deltanet' has no effect: no layer reads it"):
        load_config(experiment("model: hybrid-tiny\ntask: mqar\n"), ["model.mixers.deltanet.num_heads=2"])


def test_missing_file_and_bad_yaml(experiment, tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(experiment("model: [unclosed\n"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(experiment("- a\n- b\n"))


def test_missing_task_lists_tasks(experiment):
    with pytest.raises(ConfigError, match="choose one of: .*mqar"):
        load_config(experiment("model: hybrid-tiny\n"))
