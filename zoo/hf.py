"""transformers interop (the `hf` extra): `import zoo.hf` registers seqzoo's language models with transformers'
`AutoConfig` and `AutoModelForCausalLM`, so that an exported folder loads and generates the transformers way, and
tools built on transformers (lm-evaluation-harness's `hf` backend, with `pretrained=<the model object>`) take it.

    import zoo.hf
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained("checkpoints/mamba2-tiny-bacteria-lm")
    logits = model(input_ids).logits                       # [B, T, vocab], the same as zoo.from_pretrained's
    ids = model.generate(input_ids, max_new_tokens=32, do_sample=False)

The folder is the one `save_pretrained` writes: `config.json` carries `model_type: seqzoo` and the whole seqzoo
anatomy under `model`, and `model.safetensors` holds the weights under the same names, so nothing is converted.
Generation recomputes the whole prefix at every step (no transformers cache); `zoo`'s own `generate` decodes
recurrently in O(1) per token.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from zoo.hub import CAUSAL_LM_ARCHITECTURE, MODEL_TYPE
from zoo.models import SequenceModel, config_from_dict

__all__ = ["SeqzooConfig", "SeqzooForCausalLM"]


class SeqzooConfig(PretrainedConfig):
    """A seqzoo `config.json` as a transformers config: `model` holds the seqzoo anatomy (`ModelConfig.to_dict()`);
    the other keys (name, task, training, ...) are kept as they are."""

    model_type = MODEL_TYPE

    def __init__(self, model: dict[str, Any] | None = None, **kwargs: Any):
        self.model = model or {}
        head = self.model.get("head") or {}
        kwargs.setdefault("tie_word_embeddings", bool(head.get("tie_embeddings", False)))
        kwargs.setdefault("use_cache", False)  # generation recomputes the prefix: no transformers cache
        super().__init__(**kwargs)
        self.num_hidden_layers = len(self.model.get("layers") or [])
        self.hidden_size = self.model.get("d_model", 0)
        self.vocab_size = (self.model.get("encoder") or {}).get("vocab_size", 0)


class SeqzooForCausalLM(PreTrainedModel, GenerationMixin):
    """A seqzoo language model (`lm` head) behind transformers' `PreTrainedModel` API.

    Its modules are those of the wrapped `SequenceModel` (`encoder`, `backbone`, `head`), registered under the same
    names, so that seqzoo's `model.safetensors` loads as it is. forward: `input_ids` `[B, T]` -> logits `[B, T, V]`
    (and the mean next-token cross-entropy when `labels` `[B, T]` are given, -100 ignored)."""

    config_class = SeqzooConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    _tied_weights_keys = {"head.linear.weight": "encoder.embedding.weight"}

    def __init__(self, config: SeqzooConfig):
        super().__init__(config)
        network = SequenceModel(config_from_dict(config.model))
        if network.config.head.kind != "lm":
            raise ValueError(f"SeqzooForCausalLM loads language models (an 'lm' head); this checkpoint has a "
                             f"'{network.config.head.kind}' head: load it with zoo.from_pretrained")
        if not network.config.head.tie_embeddings:
            self._tied_weights_keys = {}
        self.__dict__["network"] = network  # not a submodule: its children are registered below under their names
        for name, child in network.named_children():
            self.add_module(name, child)
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        """Weights come from seqzoo's own initialisation (in `SequenceModel`) or from the checkpoint; the buffers
        that are not saved (rotary frequencies, index tables) are computed again."""
        if hasattr(module, "init_buffers"):
            module.init_buffers()

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.encoder.embedding

    def set_input_embeddings(self, value: torch.nn.Module) -> None:
        self.encoder.embedding = value

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.head.linear

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, **kwargs: Any) -> dict[str, Any]:
        """The whole prefix at every step (no cache), with its attention mask."""
        return {"input_ids": input_ids, "attention_mask": kwargs.get("attention_mask")}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs: Any) -> CausalLMOutput:
        if attention_mask is not None and not bool(attention_mask.bool().all()):
            raise ValueError("SeqzooForCausalLM runs unpadded batches only (attention_mask all ones): evaluate or "
                             "generate with batch size 1, or with sequences of one length")
        logits = self.network(input_ids)
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                                     ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits)


AutoConfig.register(MODEL_TYPE, SeqzooConfig, exist_ok=True)
AutoModelForCausalLM.register(SeqzooConfig, SeqzooForCausalLM, exist_ok=True)
assert SeqzooForCausalLM.__name__ == CAUSAL_LM_ARCHITECTURE
