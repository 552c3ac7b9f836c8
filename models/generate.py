"""Sampling from a language model: a parallel prefill of the prompt that returns every layer's state, then one
O(1) step per new token (recurrent layers carry a fixed-size state, attention layers a KV cache that rolls under
a sliding window)."""

from __future__ import annotations

import torch
from torch import Tensor


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Mask to -inf every logit outside the top_k largest (0: no limit) and outside the smallest set whose
    probabilities sum to at least top_p (1.0: no limit; the most likely token always stays). logits: [B, V]."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # probability mass of the more likely tokens
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(
    logits: Tensor, temperature: float, top_k: int, top_p: float, generator: torch.Generator | None
) -> Tensor:
    """The next token [B] from logits [B, V]: the argmax when temperature is 0, else a draw from
    softmax(logits / temperature) after top-k / top-p filtering."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def check_sampling(max_new_tokens: int, temperature: float, top_k: int, top_p: float) -> None:
    """ValueError naming the argument that is out of range."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    if not temperature >= 0:  # also refuses NaN
        raise ValueError(f"generate: temperature must be >= 0 (0 is greedy), got {temperature}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"generate: top_k must be a non-negative int (0: no limit), got {top_k!r}")
    if not 0 < top_p <= 1:  # also refuses NaN
        raise ValueError(f"generate: top_p must be in (0, 1], got {top_p}")


@torch.no_grad()
def generate(
    model,
    input_ids: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    eos_token_id: int | None = None,
    return_logits: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Continue `input_ids` [B, T] (T >= 1, all rows the same length) by up to `max_new_tokens` tokens sampled
    from `model` (a SequenceModel with the LM head): its `prefill` on the prompt, then `step` per token. Rows that produced
    `eos_token_id` keep emitting it; generation stops early when every row has. Returns ids [B, T + new], and
    with return_logits also the logits each new token was drawn from, [B, new, V]."""
    check_sampling(max_new_tokens, temperature, top_k, top_p)
    if input_ids.ndim != 2 or input_ids.shape[1] < 1:
        raise ValueError(f"generate: input_ids must be [B, T] with T >= 1, got shape {tuple(input_ids.shape)}")
    vocab = model.vocab_size
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab):
        raise ValueError(f"generate: input_ids must lie in [0, {vocab}), got [{input_ids.min()}, {input_ids.max()}]")
    if eos_token_id is not None and not 0 <= eos_token_id < vocab:
        raise ValueError(f"generate: eos_token_id must lie in [0, {vocab}), got {eos_token_id}")
    tokens, drawn_from = [input_ids], []
    if max_new_tokens > 0:
        logits, states = model.prefill(input_ids)
        logits = logits[:, -1]
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    for index in range(max_new_tokens):
        drawn_from.append(logits)
        token = sample_next(logits, temperature, top_k, top_p, generator)
        if eos_token_id is not None:
            token = token.masked_fill(finished, eos_token_id)
            finished |= token == eos_token_id
        tokens.append(token[:, None])
        if index + 1 == max_new_tokens or (eos_token_id is not None and bool(finished.all())):
            break
        logits, states = model.step(token, states)
    ids = torch.cat(tokens, dim=1)
    if not return_logits:
        return ids
    empty = input_ids.new_empty(input_ids.shape[0], 0, vocab, dtype=model.head.linear.weight.dtype)
    return ids, torch.stack(drawn_from, dim=1) if drawn_from else empty
