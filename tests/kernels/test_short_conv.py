"""short_conv: the torch form, the step form and the dispatcher against the loop reference (float64)."""

import pytest
import torch

from zoo.kernels.short_conv import short_conv, short_conv_reference, short_conv_step, short_conv_chunked
from zoo.kernels.short_conv import upstream
from zoo.kernels.short_conv.upstream import causal_conv1d_unsupported, short_conv_causal_conv1d

DIM = 5


def _randn(gen: torch.Generator, *shape: int, grad: bool = True) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_(grad)


def _inputs(gen, batch, length, width, n_states, with_state):
    """Fresh random x [B, T, D], weight [D, W], bias [D] and initial_state [N, D, W-1] (or None)."""
    x = _randn(gen, batch, length, DIM)
    weight = _randn(gen, DIM, width)
    bias = _randn(gen, DIM)
    init = _randn(gen, n_states, DIM, width - 1) if with_state else None
    return x, weight, bias, init


def _leaves(x, weight, bias, init):
    return [t for t in (x, weight, bias, init) if t is not None]


def _close(actual, expected, seed, what):
    torch.testing.assert_close(actual, expected, msg=lambda m: f"seed={seed}, {what}: {m}")


def _check_against(y, final, y_ref, final_ref, leaves, gen, seed):
    """Compare outputs, final states and gradients (random upstream grads on y and on the final state)."""
    _close(y, y_ref, seed, "output")
    _close(final, final_ref, seed, "final state")
    dy = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    dfinal = torch.randn(final.shape, generator=gen, dtype=final.dtype)
    grads = torch.autograd.grad((y, final), leaves, (dy, dfinal))
    grads_ref = torch.autograd.grad((y_ref, final_ref), leaves, (dy, dfinal))
    for name, g, g_ref in zip(("x", "weight", "bias", "initial_state"), grads, grads_ref):
        _close(g, g_ref, seed, f"grad of {name}")


@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("length", [1, 2, 3, 63, 64, 65, 200])
def test_torch_matches_reference(seed, length, width, with_state, activation):
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, init = _inputs(gen, 2, length, width, 2, with_state)
    kwargs = dict(activation=activation, initial_state=init, output_final_state=True)
    y, final = short_conv_chunked(x, weight, bias, **kwargs)
    y_ref, final_ref = short_conv_reference(x, weight, bias, **kwargs)
    assert y.shape == (2, length, DIM) and final.shape == (2, DIM, width - 1)
    _check_against(y, final, y_ref, final_ref, _leaves(x, weight, bias, init), gen, seed)


def _run_separately(x, weight, bias, init, lengths, activation):
    """Each packed sequence through the reference on its own -> packed y [1, T, D], final [N, D, W-1]."""
    ys, finals = [], []
    start = 0
    for n, length in enumerate(lengths):
        x_n = x[:, start : start + length]
        init_n = None if init is None else init[n : n + 1]
        if length == 0:
            ys.append(x_n)
            finals.append(torch.zeros(1, DIM, weight.shape[1] - 1, dtype=x.dtype) if init is None else init_n)
        else:
            y_n, final_n = short_conv_reference(
                x_n, weight, bias, activation=activation, initial_state=init_n, output_final_state=True
            )
            ys.append(y_n)
            finals.append(final_n)
        start += length
    return torch.cat(ys, dim=1), torch.cat(finals)


@pytest.mark.parametrize("form", [short_conv_chunked, short_conv_reference], ids=["torch", "reference"])
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("lengths", [(7, 2, 11), (6, 0, 1)], ids=["3seqs", "with_empty"])
def test_varlen_matches_separate_runs(seed, lengths, width, with_state, activation, form):
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, init = _inputs(gen, 1, sum(lengths), width, len(lengths), with_state)
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    y, final = form(
        x, weight, bias, activation=activation, initial_state=init, output_final_state=True, cu_seqlens=cu_seqlens
    )
    y_ref, final_ref = _run_separately(x, weight, bias, init, lengths, activation)
    _check_against(y, final, y_ref, final_ref, _leaves(x, weight, bias, init), gen, seed)


@pytest.mark.parametrize("varlen", [False, True], ids=["dense", "varlen"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "state"])
@pytest.mark.parametrize(
    "form", [short_conv_chunked, short_conv_reference, short_conv], ids=["torch", "reference", "dispatch"]
)
def test_empty_sequences(seed, form, with_state, varlen):
    """T = 0, as every other op takes it: an empty output, and the final state is the initial one (zeros
    without one), its gradient passed straight back."""
    gen = torch.Generator().manual_seed(seed)
    batch, num_states = (1, 3) if varlen else (2, 2)
    x, weight, bias, init = _inputs(gen, batch, 0, 4, num_states, with_state)
    cu_seqlens = torch.zeros(num_states + 1, dtype=torch.int32) if varlen else None
    y, final = form(
        x, weight, bias, activation="silu", initial_state=init, output_final_state=True, cu_seqlens=cu_seqlens
    )
    assert y.shape == (batch, 0, DIM) and y.dtype == x.dtype, f"seed={seed}"
    _close(final, init if with_state else torch.zeros(num_states, DIM, 3, dtype=x.dtype), seed, "final state")
    if with_state:
        d_final = torch.randn(final.shape, generator=gen, dtype=final.dtype)
        (d_init,) = torch.autograd.grad(final, init, d_final)
        _close(d_init, d_final, seed, "grad of initial_state")


@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("width", [1, 2, 4])
def test_step_matches_parallel(seed, width, activation):
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, init = _inputs(gen, 3, 9, width, 3, True)
    y_par, final_par = short_conv(x, weight, bias, activation=activation, initial_state=init, output_final_state=True)
    state, ys = init, []
    for t in range(x.shape[1]):
        y_t, state = short_conv_step(x[:, t], state, weight, bias, activation=activation)
        ys.append(y_t)
    _close(torch.stack(ys, dim=1), y_par, seed, "step outputs")
    _close(state, final_par, seed, "step final state")


def test_step_without_state_starts_from_zeros(seed):
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, _ = _inputs(gen, 2, 1, 4, 2, False)
    y_t, state = short_conv_step(x[:, 0], None, weight, bias)
    y_zero, state_zero = short_conv_step(x[:, 0], torch.zeros(2, DIM, 3, dtype=x.dtype), weight, bias)
    _close(y_t, y_zero, seed, "output")
    _close(state, state_zero, seed, "state")


def test_weight_is_squeezed_depthwise_conv1d(seed):
    """weight [D, W] is nn.Conv1d(D, D, W, groups=D, padding=W-1)'s [D, 1, W] weight squeezed (mamba layout)."""
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, _ = _inputs(gen, 2, 10, 4, 2, False)
    conv = torch.nn.Conv1d(DIM, DIM, 4, groups=DIM, padding=3, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(weight.unsqueeze(1))
        conv.bias.copy_(bias)
    expected = conv(x.transpose(1, 2))[..., :10].transpose(1, 2)
    _close(short_conv(x, weight, bias)[0], expected, seed, "output")


def test_auto_on_cpu_is_torch(seed):
    gen = torch.Generator().manual_seed(seed)
    x, weight, bias, init = _inputs(gen, 2, 17, 4, 2, True)
    kwargs = dict(activation="silu", initial_state=init, output_final_state=True)
    for got, expected in zip(short_conv(x, weight, bias, **kwargs), short_conv_chunked(x, weight, bias, **kwargs)):
        assert torch.equal(got, expected), f"seed={seed}"


def _bad_call(**overrides):
    args = dict(
        x=torch.randn(1, 6, DIM),
        weight=torch.randn(DIM, 3),
        bias=torch.randn(DIM),
        initial_state=None,
        activation=None,
        cu_seqlens=None,
        backend="auto",
    )
    args.update(overrides)
    x, weight, bias = args.pop("x"), args.pop("weight"), args.pop("bias")
    return lambda: short_conv(x, weight, bias, **args)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(x=torch.randn(6, DIM)), r"^x must be 3-D"),
        (dict(weight=torch.randn(DIM, 1, 3)), r"^weight must be \[D, W\]"),
        (dict(weight=torch.randn(DIM + 1, 3)), r"^weight must be \[D, W\] = \[5, W\], got \[6, 3\]"),
        (dict(weight=torch.randn(DIM, 0)), r"^weight width W must be >= 1"),
        (dict(bias=torch.randn(DIM + 1)), r"^bias must be \[D\] = \[5\], got \[6\]"),
        (dict(initial_state=torch.randn(1, DIM, 3)), r"^initial_state must be \[N, D, W-1\] = \[1, 5, 2\]"),
        (dict(initial_state=torch.randn(2, DIM, 2)), r"^initial_state must be \[N, D, W-1\] = \[1, 5, 2\]"),
        (dict(activation="gelu"), r"^activation must be one of"),
        (dict(cu_seqlens=torch.tensor([0, 2, 5])), r"cu_seqlens"),
        (dict(x=torch.randn(2, 6, DIM), cu_seqlens=torch.tensor([0, 6])), r"cu_seqlens"),
        (
            dict(cu_seqlens=torch.tensor([0, 2, 6]), initial_state=torch.randn(1, DIM, 2)),
            r"^initial_state must be \[N, D, W-1\] = \[2, 5, 2\]",
        ),
        (dict(backend="cuda"), r"unknown short_conv backend 'cuda'; valid backends: .*'torch'.*'triton'"),
    ],
)
def test_short_conv_validation(overrides, match):
    with pytest.raises(ValueError, match=match):
        _bad_call(**overrides)()


@pytest.mark.parametrize(
    "x_t, state, weight, bias, match",
    [
        (torch.randn(2, 1, DIM), None, torch.randn(DIM, 3), None, r"^x_t must be 2-D"),
        (torch.randn(2, DIM), torch.randn(2, DIM, 3), torch.randn(DIM, 3), None, r"^state must be \[N, D, W-1\]"),
        (torch.randn(2, DIM), None, torch.randn(DIM + 1, 3), None, r"^weight must be \[D, W\]"),
        (torch.randn(2, DIM), None, torch.randn(DIM, 3), torch.randn(1), r"^bias must be \[D\]"),
    ],
)
def test_step_validation(x_t, state, weight, bias, match):
    with pytest.raises(ValueError, match=match):
        short_conv_step(x_t, state, weight, bias)


def test_forced_causal_conv1d_on_cpu_fails_clearly():
    expected = ImportError if upstream.load_causal_conv1d() is None else ValueError
    with pytest.raises(expected, match="causal_conv1d"):
        _bad_call(backend="causal_conv1d")()
    reason = causal_conv1d_unsupported(torch.randn(1, 6, 8), torch.randn(8, 4), None, None, False, None)
    assert reason is not None and "CUDA" in reason


def _fake_causal_conv1d_fn(
    x, weight, bias=None, seq_idx=None, initial_states=None, return_final_states=False, activation=None
):
    """causal_conv1d_fn's channel-last contract with the layout checks of its CUDA code, computed by the reference."""
    assert x.stride(1) == 1 and x.stride(2) > 1, "x must be channel-last [B, D, T]"
    assert initial_states is None or initial_states.stride(1) == 1
    cu_seqlens = None
    if seq_idx is not None:
        assert seq_idx.dtype == torch.int32 and seq_idx.is_contiguous() and seq_idx.shape == (x.shape[0], x.shape[2])
        assert initial_states is None and not return_final_states
        counts = torch.bincount(seq_idx[0].long())
        cu_seqlens = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    y, final = short_conv_reference(
        x.transpose(1, 2),
        weight,
        bias,
        activation=activation,
        initial_state=initial_states,
        output_final_state=return_final_states,
        cu_seqlens=cu_seqlens,
    )
    y = y.contiguous().transpose(1, 2)  # channel-last like the kernel's output
    return (y, final) if return_final_states else y


@pytest.mark.parametrize("varlen", [False, True])
def test_causal_conv1d_adapter_plumbing(seed, monkeypatch, varlen):
    """The adapter's layout and seq_idx plumbing, against a stand-in that checks causal_conv1d_fn's contract."""
    monkeypatch.setattr(upstream, "load_causal_conv1d", lambda: _fake_causal_conv1d_fn)
    gen = torch.Generator().manual_seed(seed)
    cu_seqlens = torch.tensor([0, 5, 6, 14], dtype=torch.int32) if varlen else None
    x, weight, bias, init = _inputs(gen, 1 if varlen else 2, 14, 4, 2, not varlen)
    kwargs = dict(activation="silu", initial_state=init, output_final_state=not varlen, cu_seqlens=cu_seqlens)
    y, final = short_conv_causal_conv1d(x, weight, bias, **kwargs)
    y_ref, final_ref = short_conv_chunked(x, weight, bias, **kwargs)
    assert y.is_contiguous()
    _close(y, y_ref, seed, "output")
    if varlen:
        assert final is None
    else:
        _close(final, final_ref, seed, "final state")


def test_step_state_owns_exactly_its_columns():
    """The rolled state holds W - 1 columns of storage, so decoding memory does not creep up by one column."""
    weight = torch.randn(6, 4)
    _, state = short_conv_step(torch.randn(2, 6), torch.randn(2, 6, 3), weight)
    assert state.shape == (2, 6, 3) and state.is_contiguous()
    assert state.untyped_storage().nbytes() == state.numel() * state.element_size()
