"""Model cards: the hub `README.md` with YAML metadata (library, tags, datasets, model-index results)."""

from __future__ import annotations

from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

A **{{ family }}** sequence model from [seqzoo](https://pypi.org/project/seqzoo/){% if task_name %}, trained on
**{{ task_name }}**{% endif %}.

## Architecture

| field | value |
|---|---|
| encoder | {{ encoder }} |
| layers | {{ layers }} |
| d_model | {{ d_model }} |
| MLP hidden size | {{ d_intermediate }} |
| head | {{ head }} |
| parameters | {{ parameters }} |

## Results
{% if results %}
| metric | value |
|---|---|
{% for name, value in results %}| {{ name }} | {{ value }} |
{% endfor %}{% else %}
No evaluation results recorded.
{% endif %}
{% if task %}
## Task

```yaml
{{ task }}
```
{% endif %}{% if training %}
## Training

```yaml
{{ training }}
```
{% endif %}
## Use

```python
import zoo

model = zoo.from_pretrained("path/to/this/folder")   # or "hf-hub:<org>/<name>"
outputs = model(inputs)                             # {{ io }}
```

Evaluate it again with `zoo eval <folder>`; `zoo card <folder>` rewrites this card from `config.json`
and `eval_results.json`.
"""


# Hub metric types for our metric names (the part after "test/").
_METRIC_TYPES = {"acc": "accuracy", "loss": "loss"}


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


_INPUTS = {"tokens": "token ids [B, T]", "linear": "values [B, T, {in_channels}]",
           "patches": "images [B, {in_channels}, {image_size}, {image_size}]"}
_OUTPUTS = {"lm": "logits [B, T, vocabulary]", "token_classifier": "logits [B, T, {num_outputs}]",
            "classifier": "logits [B, {num_outputs}]", "matching": "logits [B, {num_outputs}] for pairs [B, 2, T]",
            "regression": "values [B, {horizon}, {num_outputs}]"}


def _shapes(encoder: dict[str, Any], head: dict[str, Any]) -> str:
    """What the model takes and gives, for the card's usage line."""
    takes = _INPUTS.get(encoder["kind"], encoder["kind"]).format(**encoder)
    gives = _OUTPUTS.get(head["kind"], head["kind"]).format(**head)
    return f"{takes} -> {gives}"


def render_card(config: dict[str, Any], results: dict[str, float], parameters: int) -> ModelCard:
    """The model card of a checkpoint folder, from its `config.json` contents and its metrics."""
    model, task, training = config["model"], config.get("task"), config.get("training")
    model_name = config.get("name") or model["name"]
    task_name = task["name"] if task else None
    task_description = config.get("task_description") or task_name
    eval_results = [
        EvalResult(
            task_type="sequence-modeling",
            task_name=task_description,
            dataset_type=f"seqzoo/{task_name}",
            dataset_name=task_description,
            dataset_split=metric.split("/")[0] if "/" in metric else "test",
            metric_type=_metric_type(metric),
            metric_name=metric,
            metric_value=float(value),
        )
        for metric, value in sorted(results.items())
        if metric.startswith("test/")
    ] or None
    card_data = ModelCardData(
        library_name="seqzoo",
        license="apache-2.0",
        tags=["seqzoo", model["family"], *sorted(set(model["layers"]))],
        datasets=[f"seqzoo/{task_name}"] if task_name else None,
        metrics=sorted({_metric_type(m) for m in results}) or None,
        model_name=model_name if eval_results else None,
        eval_results=eval_results,
    )
    return ModelCard.from_template(
        card_data,
        template_str=_TEMPLATE,
        model_name=model_name,
        family=model["family"],
        task_name=task_description,
        layers=", ".join(model["layers"]),
        d_model=model["d_model"],
        d_intermediate=model["d_intermediate"],
        encoder=_describe(model["encoder"]),
        head=_describe(model["head"]),
        io=_shapes(model["encoder"], model["head"]),
        parameters=f"{parameters:,}",
        results=[(name, _format(value)) for name, value in sorted(results.items())],
        task=yaml.safe_dump(task, sort_keys=False).strip() if task else None,
        training=yaml.safe_dump(training, sort_keys=False).strip() if training else None,
    )
