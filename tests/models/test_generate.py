"""Generation: the logits each sampled token was drawn from equal the parallel forward's logits on the final
sequence (float64), sampling filters, reproducibility, end-of-sequence handling and argument errors; recurrent
and sliding-window models decode with a state whose size does not grow."""

import pytest
import torch
from small_presets import SMALL_PRESETS as PRESETS
from zoo.models.generate import filter_logits

import zoo


def _state_elements(states) -> int:
    """Total number of tensor elements held in per-layer decoding states (dataclasses, tuples or tensors)."""
    total = 0
    for state in states:
        parts = state if isinstance(state, (tuple, list)) else vars(state).values() if hasattr(state, "__dict__") else [state]
        total += sum(p.numel() for p in parts if isinstance(p, torch.Tensor))
    return total


@pytest.mark.parametrize("name", PRESETS)
def test_generated_logits_equal_the_parallel_forward(name, seed):
    model = zoo.create_model(name).double().eval()
    prompt = torch.randint(0, model.vocab_size, (2, 7))
    generator = torch.Generator().manual_seed(seed)
    ids, logits = model.generate(prompt, 9, temperature=1.0, top_k=50, generator=generator, return_logits=True)
    assert ids.shape == (2, 16) and torch.equal(ids[:, :7], prompt)
    with torch.no_grad():
        expected = model(ids)[:, 6:-1]  # the logits at the positions the new tokens were drawn from
    torch.testing.assert_close(logits, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["mamba-tiny", "mamba2-tiny", "deltanet-tiny", "swa-tiny"])
def test_decoding_state_does_not_grow(name, seed):
    model = zoo.create_model(name).eval()
    with torch.no_grad():
        _, states = model.prefill(torch.randint(0, 256, (1, 40)))
        size_after_prompt = _state_elements(states)
        for token in torch.randint(0, 256, (30,)):
            _, states = model.step(token[None], states)
    assert _state_elements(states) == size_after_prompt > 0


def test_full_attention_cache_grows_with_the_tokens(seed):
    model = zoo.create_model("attention-tiny").eval()
    with torch.no_grad():
        _, states = model.prefill(torch.randint(0, 256, (1, 10)))
        before = _state_elements(states)
        _, states = model.step(torch.tensor([3]), states)
    assert _state_elements(states) > before


def test_greedy_generation_is_the_argmax_of_the_parallel_forward():
    model = zoo.create_model("hybrid-tiny").double().eval()
    prompt = torch.randint(0, 256, (1, 5))
    ids = model.generate(prompt, 6, temperature=0)
    with torch.no_grad():
        expected = model(ids)[:, 4:-1].argmax(-1)
    assert torch.equal(ids[:, 5:], expected)


def test_sampling_is_reproducible_with_a_generator():
    model = zoo.create_model("mamba2-tiny").eval()
    prompt = torch.randint(0, 256, (3, 4))
    first = model.generate(prompt, 8, generator=torch.Generator().manual_seed(1))
    again = model.generate(prompt, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, again)


def test_top_k_and_top_p_keep_the_most_likely_tokens():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert torch.isfinite(filter_logits(logits, top_k=2)[0, :2]).all()
    probs = logits.softmax(-1)[0]  # 0.64, 0.24, 0.09, ...
    kept = torch.isfinite(filter_logits(logits, top_p=0.8)[0])
    assert kept.tolist() == [True, True, False, False, False] and probs[:2].sum() >= 0.8
    assert torch.isfinite(filter_logits(logits, top_p=0.1)[0]).tolist() == [True] + [False] * 4
    shuffled = logits[:, [3, 0, 4, 2, 1]]
    assert torch.isfinite(filter_logits(shuffled, top_p=0.8)[0]).tolist() == [False, True, False, False, True]


def test_finished_rows_keep_emitting_eos_and_generation_stops():
    model = zoo.create_model("attention-tiny").eval()
    prompt = torch.randint(0, 256, (2, 3))
    greedy = model.generate(prompt, 1, temperature=0)
    eos = int(greedy[0, -1])
    ids = model.generate(prompt, 20, temperature=0, eos_token_id=eos)
    assert ids[0, 3] == eos and (ids[0, 3:] == eos).all()
    assert ids.shape[1] == 23 or (ids[:, -1] == eos).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_new_tokens=-1), "max_new_tokens"),
        (dict(max_new_tokens=2, temperature=-0.5), "temperature"),
        (dict(max_new_tokens=2, top_k=-1), "top_k"),
        (dict(max_new_tokens=2, top_p=0.0), "top_p"),
    ],
)
def test_bad_sampling_arguments_are_named(kwargs, message):
    model = zoo.create_model("attention-tiny")
    with pytest.raises(ValueError, match=message):
        model.generate(torch.zeros(1, 2, dtype=torch.long), **kwargs)


def test_bad_prompts_are_refused():
    model = zoo.create_model("attention-tiny")
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        model.generate(torch.zeros(4, dtype=torch.long), 2)
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        model.generate(torch.full((1, 2), 300), 2)
