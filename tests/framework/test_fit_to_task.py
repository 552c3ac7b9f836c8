"""Fitting a model config to a task (`zoo.anatomy`): the one place where encoder, head and sizes meet the task's
`TaskIO`, for training and evaluation alike."""

from __future__ import annotations

import pytest
from dataclasses import dataclass

from zoo.models import HEADS, model_config
from zoo.models.heads.classifier import Classifier, ClassifierConfig
from zoo.models.registry import register_head
from zoo.tasks import TaskIO

from zoo.anatomy import check_fits, fit_to_task
from zoo.errors import ConfigError

TEXT = TaskIO(inputs="tokens", outputs="classifier", num_outputs=3, vocab_size=256)
SERIES = TaskIO(inputs="channels", outputs="regression", num_outputs=2, channels=7, horizon=24, metrics=("mse",))
IMAGES = TaskIO(inputs="image", outputs="classifier", num_outputs=10, channels=1, image_size=28)
RECALL = TaskIO(inputs="tokens", outputs="lm", num_outputs=512, vocab_size=512)


def test_an_unset_anatomy_takes_the_tasks():
    fitted = fit_to_task(model_config("mamba2-tiny"), SERIES, "series")
    assert (fitted.encoder.kind, fitted.encoder.in_channels) == ("linear", 7)
    assert (fitted.head.kind, fitted.head.num_outputs, fitted.head.horizon) == ("regression", 2, 24)
    images = fit_to_task(model_config("mamba2-tiny"), IMAGES, "images")
    assert (images.encoder.kind, images.encoder.in_channels, images.encoder.image_size) == ("patches", 1, 28)
    recall = fit_to_task(model_config("hybrid-tiny"), RECALL, "recall")
    assert (recall.encoder.vocab_size, recall.head.kind) == (512, "lm")


def test_chosen_parts_keep_their_options_and_take_the_sizes():
    config = model_config("mamba2-tiny", head={"kind": "classifier", "pool": "last", "num_outputs": 99},
                          encoder={"kind": "tokens", "vocab_size": 7})
    fitted = fit_to_task(config, TEXT, "text")
    assert (fitted.head.pool, fitted.head.num_outputs, fitted.encoder.vocab_size) == ("last", 3, 256)


def test_a_published_lm_preset_is_a_language_model_until_its_head_is_unset():
    """mamba-130m sets its encoder (50280 tokens) and its LM head: on a classification task the error says how to
    let the task choose the head, and then it fits."""
    with pytest.raises(ConfigError, match="'model.head.kind' is 'lm'.*model.head=null"):
        fit_to_task(model_config("mamba-130m"), TEXT, "text")
    fitted = fit_to_task(model_config("mamba-130m", head=None), TEXT, "text")
    assert fitted.encoder.vocab_size == 256 and fitted.head.kind == "classifier"


def test_parts_that_cannot_fit_are_named_with_the_fix():
    with pytest.raises(ConfigError, match="'model.encoder.kind' is 'tokens', which reads tokens, but task 'images' "
                                          "feeds image; choose one of: patches, or set model.encoder=null"):
        fit_to_task(model_config("mamba-130m"), IMAGES, "images")
    with pytest.raises(ConfigError, match="'model.head.kind' is 'regression', but task 'text' needs a "
                                          "'classifier' head; choose one of: classifier, or set model.head=null"):
        fit_to_task(model_config("mamba2-tiny", head={"kind": "regression"}), TEXT, "text")
    with pytest.raises(ConfigError, match="'model.bidirectional' is true, but task 'recall' predicts the next token"):
        fit_to_task(model_config("hybrid-tiny", bidirectional=True), RECALL, "recall")


def test_a_head_serves_the_task_output_kind_it_predicts(monkeypatch):
    """A head registered from outside declares `predicts`: here a second pooled classifier serves class tasks."""
    monkeypatch.setattr(HEADS, "_entries", dict(HEADS._entries))  # registered for this test only

    @dataclass
    class WideClassifierConfig(ClassifierConfig):
        kind: str = "wide_classifier"

    @register_head("wide_classifier", config=WideClassifierConfig)
    class WideClassifier(Classifier):
        predicts = "classifier"

    fitted = fit_to_task(model_config("mamba2-tiny", head={"kind": "wide_classifier", "pool": "first"}), TEXT, "text")
    assert (fitted.head.kind, fitted.head.num_outputs, fitted.head.pool) == ("wide_classifier", 3, "first")
    with pytest.raises(ConfigError, match="needs a 'regression' head; choose one of: regression"):
        fit_to_task(model_config("mamba2-tiny", head={"kind": "wide_classifier"}), SERIES, "series")


def test_evaluation_refuses_classes_numbered_otherwise():
    built = fit_to_task(model_config("mamba2-tiny"), TEXT, "text").resolved()
    named = TaskIO(inputs="tokens", outputs="classifier", num_outputs=3, vocab_size=256, labels=("a", "b", "c"))
    check_fits(built, named, "text", labels=["a", "b", "c"])
    check_fits(built, TEXT, "text", labels=["a", "b", "c"])  # a task that names no classes is not compared
    with pytest.raises(ConfigError, match=r"the model's classes are \['a', 'b', 'd'\] but task 'text' numbers"):
        check_fits(built, named, "text", labels=["a", "b", "d"])


def test_a_built_model_is_checked_against_another_task_setting():
    built = fit_to_task(model_config("mamba2-tiny"), SERIES, "series").resolved()
    check_fits(built, SERIES, "series")
    longer = TaskIO(inputs="channels", outputs="regression", num_outputs=2, channels=7, horizon=48, metrics=("mse",))
    with pytest.raises(ConfigError, match="its head has horizon 24 \\(task: 48\\)"):
        check_fits(built, longer, "series")
