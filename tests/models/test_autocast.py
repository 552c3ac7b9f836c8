"""Mixed precision for every family: under bfloat16 autocast the forward pass runs in half precision where torch
chooses it, the recurrent kernels accumulate their state in float32, and a training step leaves float32 parameters
and finite float32 gradients; outputs stay close to the float32 ones."""

import pytest
import torch
from small_presets import TINY_PRESETS

import zoo

# bfloat16 keeps 8 bits of mantissa (relative step 2^-8 = 0.0039): over 50 seeds (make sweep) the worst relative
# difference of the logits to float32, measured against their largest magnitude, was 0.027 (deltanet-global-
# hybrid-tiny; a ratio of 0.27 to SCALED_ATOL)
SCALED_ATOL = 0.1


@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_bf16_autocast_step_keeps_float32_parameters_and_gradients(preset, seed):
    model = zoo.create_model(preset)
    ids = torch.randint(0, 256, (2, 24))
    with torch.no_grad():
        reference = model(ids)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(ids)
    loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), ids.roll(-1, 1).flatten())
    loss.backward()
    assert torch.isfinite(loss), f"{preset} (seed {seed})"
    for name, parameter in model.named_parameters():
        assert parameter.dtype == torch.float32, f"{preset}: {name} is {parameter.dtype}"
        assert parameter.grad is not None and parameter.grad.dtype == torch.float32, f"{preset}: {name}"
        assert torch.isfinite(parameter.grad).all(), f"{preset}: the gradient of {name} is not finite (seed {seed})"
    scale = reference.abs().max()
    torch.testing.assert_close(logits.float() / scale, reference / scale, rtol=0, atol=SCALED_ATOL,
                               msg=lambda message: f"{preset} (seed {seed}): {message}")


# layer -> what its decoding state accumulated over the sequence (convolution windows and key/value caches hold
# past inputs, kept in the inputs' dtype, and are not listed)
ACCUMULATED = {
    "mamba": lambda state: [state.ssm],
    "mamba2": lambda state: [state.ssm],
    "mlstm": lambda state: list(state.cell),
    "slstm": lambda state: list(state.cell),
    "deltanet": lambda state: [state.recurrent],
    "gated_deltanet": lambda state: [state.recurrent],
    "based": lambda state: [state],
}


@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_recurrent_states_accumulate_in_float32_under_autocast(preset):
    model = zoo.create_model(preset)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, states = model.prefill(torch.randint(0, 256, (2, 24)))
    assert logits.dtype == torch.bfloat16, "autocast did not reach the head"
    for index, (layer, state) in enumerate(zip(model.config.layers, states)):
        for tensor in ACCUMULATED.get(layer, lambda state: [])(state):
            assert tensor.dtype == torch.float32, f"{preset}: layer {index} ({layer}) accumulates in {tensor.dtype}"
