"""Model cards: the hub `README.md` of a checkpoint folder, generated from its `config.json` and evaluations.

The YAML metadata is huggingface_hub's `ModelCardData` (library, license, tags, datasets, metrics, pipeline tag,
base model, and one model-index entry per evaluated task setting); the body says what the model is, what it was
trained on and how (the exact command and config), what it measured, how to load it, what it is for and whom to cite.
"""

from __future__ import annotations

from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from zoo.models.citations import papers_of
from zoo.models.config import config_from_dict
from zoo.provenance import Evaluation

_TEMPLATE = """---
{{ card_data }}
---

# {{ name }}

{{ summary }}

## Architecture and size

| field | value |
|---|---|
{% for field, value in architecture %}| {{ field }} | {{ value }} |
{% endfor %}
{% if converted %}## Source

{{ converted }}
{% endif %}{% if task %}## Training data

{{ task_description }} (task `{{ task_name }}`{% if datasets %}; data: {{ datasets }}{% endif %}).

```yaml
{{ task }}
```

{% endif %}{% if command %}## Training

Trained with

```bash
{{ command }}
```
{% if config %}
on this resolved config:

```yaml
{{ config }}
```
{% endif %}{% endif %}
## Evaluation
{% if evaluations %}
| task setting | metric | value |
|---|---|---|
{% for setting, metric, value in evaluations %}| {{ setting }} | {{ metric }} | {{ value }} |
{% endfor %}{% if commands %}
Measured again by:
{% for setting, command in commands %}
- {{ setting }}: `{{ command }}`{% endfor %}
{% endif %}{% else %}
No evaluation recorded: `zoo eval <folder> --write` measures and records one.
{% endif %}{% if curves %}
## Training curves

![training curves](training_curves.png)
{% endif %}
## How to load

```python
import zoo

model = zoo.from_pretrained("{{ location }}")
outputs = model(inputs)   # {{ io }}
```
{% if causal_lm %}
With transformers (`pip install seqzoo[hf]`):

```python
import zoo.hf  # registers seqzoo with AutoConfig / AutoModelForCausalLM
from transformers import AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained("{{ location }}")
```
{% endif %}
`zoo eval {{ location }}` measures it again on its task; `zoo card <folder>` rewrites this card from `config.json`
and `eval_results.json`.

## Intended use and limits

{{ limits }}
{% if papers %}
## Citation

The architecture: {{ paper_links }}.

```bibtex
{{ bibtex }}
```
{% endif %}"""

# our metric names (the part after "test/") -> the hub's metric types
_METRIC_TYPES = {"acc": "accuracy", "f1": "f1", "mcc": "matthews_correlation", "mse": "mse", "mae": "mae",
                 "loss": "loss", "bpt": "bits_per_token", "ppl": "perplexity"}

_INPUTS = {"tokens": "token ids [B, T]", "linear": "values [B, T, {in_channels}]",
           "patches": "images [B, {in_channels}, {image_size}, {image_size}]"}
_OUTPUTS = {"lm": "logits [B, T, vocabulary]", "token_classifier": "logits [B, T, {num_outputs}]",
            "classifier": "logits [B, {num_outputs}]", "matching": "logits [B, {num_outputs}] for pairs [B, 2, T]",
            "regression": "values [B, {horizon}, {num_outputs}]"}


def _metric_type(metric: str) -> str:
    """`"test/acc"` -> `"accuracy"`: the hub's metric type of one of our metric names."""
    short = metric.split("/")[-1]
    return _METRIC_TYPES.get(short, short)


def _format(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _describe(part: dict[str, Any]) -> str:
    """An encoder or head section in one line: `tokens (vocab_size 256)`."""
    fields = ", ".join(f"{key} {value}" for key, value in part.items() if key != "kind")
    return f"{part['kind']} ({fields})" if fields else part["kind"]


def _shapes(encoder: dict[str, Any], head: dict[str, Any]) -> str:
    """What the model takes and gives, for the card's usage line."""
    takes = _INPUTS.get(encoder["kind"], encoder["kind"]).format(**encoder)
    gives = _OUTPUTS.get(head["kind"], head["kind"]).format(**head)
    return f"{takes} -> {gives}"


def pipeline_tag(model: dict[str, Any]) -> str | None:
    """The hub pipeline tag of a model's anatomy, where one fits."""
    head, encoder = model["head"]["kind"], model["encoder"]["kind"]
    if head == "lm":
        return "text-generation"
    if head == "token_classifier":
        return "token-classification"
    if head == "regression":
        return "time-series-forecasting"
    if head in ("classifier", "matching"):
        return {"patches": "image-classification", "tokens": "text-classification"}.get(encoder)
    return None


def _eval_results(evaluations: list[Evaluation], task_type: str) -> list[EvalResult]:
    """One model-index result per test metric of every evaluation, each under its own task setting."""
    return [
        EvalResult(
            task_type=task_type,
            task_name=evaluation.description,
            dataset_type=(evaluation.task or {}).get("name", "custom"),
            dataset_name=evaluation.description,
            dataset_config=_setting(evaluation.task),
            dataset_split="test",
            metric_type=_metric_type(metric),
            metric_name=metric,
            metric_value=float(value),
        )
        for evaluation in evaluations
        for metric, value in sorted(evaluation.metrics.items())
        if metric.startswith("test/")
    ]


def _setting(task: dict[str, Any] | None) -> str | None:
    """A task config in one line (the model-index dataset config): `seq_len=64,num_kv_pairs=4`."""
    if not task:
        return None
    skip = {"name", "batch_size", "num_workers", "data_dir"}
    return ",".join(f"{key}={value}" for key, value in task.items() if key not in skip and not isinstance(value, dict))


def _architecture(config: dict[str, Any], parameters: int) -> list[tuple[str, str]]:
    model = config["model"]
    rows = [("family", model["family"])]
    if config.get("preset"):
        changes = config.get("changes") or []
        rows.append(("preset", f"`{config['preset']}`" + (f", changed: {', '.join(changes)}" if changes else "")))
    rows += [
        ("layers", ", ".join(model["layers"])),
        ("d_model", str(model["d_model"])),
        ("MLP hidden size", str(model["d_intermediate"])),
        ("bidirectional", str(model["bidirectional"]).lower()),
        ("encoder", _describe(model["encoder"])),
        ("head", _describe(model["head"])),
        ("parameters", f"{parameters:,} ({parameters * 4 / 2**20:.2f} MiB in float32)"),
    ]
    return rows


def _limits(config: dict[str, Any], parameters: int) -> str:
    name, task = config["name"], config.get("task_description")
    if config.get("converted_from"):
        return (f"A conversion of {config['converted_from'].get('checkpoint')} to seqzoo's layout: its uses and "
                "limits are those of the source model and its license.")
    scale = "a small research model" if parameters < 50_000_000 else "a research model"
    trained = f"trained only on {task}" if task else "not trained on any task (random initialisation)"
    return (f"`{name}` is {scale}, {trained}. It is meant for studying and comparing sequence architectures "
            "(reproducing the numbers above, fine-tuning, ablations), not for deployment. Its results hold for the "
            "task settings named in the table only; another setting (longer sequences, other data) needs its own "
            "evaluation, which `zoo eval --write` records as a separate entry.")


def render_card(config: dict[str, Any], evaluations: list[Evaluation], parameters: int, curves: bool) -> str:
    """The model card (text, ending in a newline) of a checkpoint folder: its `config.json` contents, its
    evaluations, its parameter count and whether the folder holds `training_curves.png`."""
    model, task, training = config["model"], config.get("task"), config.get("training") or {}
    name = config.get("name") or model["name"]
    tag = pipeline_tag(model)
    results = _eval_results(evaluations, tag or "other")
    layers_config = config_from_dict(model).resolved()
    papers = papers_of(layers_config.layers, layers_config.mixers)
    metric_types = sorted({_metric_type(m) for e in evaluations for m in e.metrics if m.startswith("test/")})
    card_data = ModelCardData(
        library_name="seqzoo",
        license=config.get("license") or "apache-2.0",
        license_name=config.get("license_name"),
        license_link=config.get("license_link"),
        tags=list(dict.fromkeys(["seqzoo", model["family"], *model["layers"], *([task["name"]] if task else [])])),
        datasets=config.get("datasets") or None,
        metrics=metric_types or None,
        pipeline_tag=tag,
        base_model=config.get("base_model"),
        model_name=name if results else None,
        eval_results=results or None,
    )
    converted = config.get("converted_from")
    location = config.get("hub_id") or "path/to/this/folder"
    text = ModelCard.from_template(
        card_data,
        template_str=_TEMPLATE,
        name=name,
        summary=(f"A **{model['family']}** sequence model from [seqzoo](https://pypi.org/project/seqzoo/)"
                 + (f", trained on **{config.get('task_description') or task['name']}**." if task else ".")),
        architecture=_architecture(config, parameters),
        converted=(f"Converted by `zoo convert --source {converted['source']}` from the {converted['source']} "
                   f"checkpoint `{converted['checkpoint']}`; the weights are that model's, unchanged."
                   if converted else None),
        task=yaml.safe_dump(task, sort_keys=False).strip() if task else None,
        task_name=task["name"] if task else None,
        task_description=config.get("task_description") or (task or {}).get("name"),
        datasets=", ".join(f"[{d}](https://huggingface.co/datasets/{d})" for d in config.get("datasets") or []),
        command=training.get("command"),
        config=training.get("config"),
        evaluations=[(e.description, metric, _format(value)) for e in evaluations
                     for metric, value in sorted(e.metrics.items())],
        commands=[(e.description, e.command) for e in evaluations if e.command],
        curves=curves,
        location=location,
        io=_shapes(model["encoder"], model["head"]),
        causal_lm=model["head"]["kind"] == "lm",
        limits=_limits(config, parameters),
        papers=papers,
        paper_links=", ".join(f"[{paper.title}]({paper.url})" for paper in papers),
        bibtex="\n\n".join(paper.bibtex for paper in papers),
    ).content
    return text.rstrip("\n") + "\n"
