"""RevIN (`model.instance_norm`): each window normalised by its own statistics (padding ignored), the forecast mapped
back exactly, so that a model with it is equivariant to a per-channel shift and positive scale of its input window;
configs it cannot serve are refused by name."""

from __future__ import annotations

import pytest
import torch
from zoo.models.config import ModelConfigError
from zoo.models.layers.revin import RevIN

import zoo

# float64 throughout: what is compared with TOL differs only by rounding. Calibration (make sweep, 50 seeds): the
# worst error / tolerance of each test is stated beside its comparisons.
TOL = dict(rtol=1e-9, atol=1e-9)


def forecaster(channels: int = 3, **fields) -> torch.nn.Module:
    model = zoo.create_model("mamba-tiny", encoder={"kind": "linear", "in_channels": channels},
                             head={"kind": "regression", "num_outputs": channels, "horizon": 5}, instance_norm=True,
                             **fields)
    return model.double().eval()


def test_normalized_windows_have_zero_mean_unit_std_and_come_back(seed):
    revin = RevIN(4).double()
    x = 3.0 + 2.5 * torch.randn(6, 20, 4, dtype=torch.float64)
    normalized, stats = revin.normalize(x)
    torch.testing.assert_close(normalized.mean(1), torch.zeros(6, 4, dtype=torch.float64), **TOL)
    variance = x.var(1, unbiased=False)  # eps 1e-5 sits inside the square root: std = sqrt(var / (var + eps))
    torch.testing.assert_close(normalized.std(1, unbiased=False), (variance / (variance + 1e-5)).sqrt(), **TOL)
    with torch.no_grad():
        revin.weight.uniform_(0.5, 2.0)
        revin.bias.normal_()
    normalized, stats = revin.normalize(x)
    # denormalize divides by weight + eps^2 (RevIN's guard against a zero weight): exact to about 1e-10 relative.
    # Over two 50-seed sweeps the worst error was 0.084 of this tolerance (the comparisons with TOL above: < 1e-6).
    torch.testing.assert_close(revin.denormalize(normalized, stats), x, rtol=1e-8, atol=1e-8)


def test_padding_does_not_change_the_statistics(seed):
    revin = RevIN(2).double()
    x = torch.randn(3, 12, 2, dtype=torch.float64) * 4 + 1
    lengths = torch.tensor([12, 7, 3])
    padded = x.clone()
    for row, length in enumerate(lengths.tolist()):
        padded[row, length:] = 1e6  # padding may hold anything
    normalized, (mean, std) = revin.normalize(padded, lengths)  # 50 seeds: worst error 3.2e-7 of TOL
    for row, length in enumerate(lengths.tolist()):
        alone, (alone_mean, alone_std) = revin.normalize(x[row : row + 1, :length])
        torch.testing.assert_close(normalized[row : row + 1, :length], alone, **TOL)
        torch.testing.assert_close((mean[row], std[row]), (alone_mean[0], alone_std[0]), **TOL)
        assert not normalized[row, length:].any()


def test_forecasts_follow_shift_and_scale_of_the_window(seed):
    """A shift moves each window's mean only: exact. A scale also scales the variance beside RevIN's eps (1e-5 inside
    the square root), so it holds to about eps / var of the windows (var >= 0.25 here)."""
    model = forecaster()
    x = torch.randn(4, 16, 3, dtype=torch.float64)
    shift = torch.randn(1, 1, 3, dtype=torch.float64) * 10
    scale = torch.rand(1, 1, 3, dtype=torch.float64) * 4.5 + 0.5
    with torch.no_grad():
        base, shifted, scaled = model(x), model(x + shift), model(x * scale)
    # over two 50-seed sweeps the worst error was 0.016 of these tolerances (the scale comparison)
    assert base.shape == (4, 5, 3)
    torch.testing.assert_close(shifted, base + shift, **TOL)
    torch.testing.assert_close(scaled, base * scale, rtol=1e-3, atol=1e-3)


def test_without_it_the_model_is_not_equivariant(seed):
    """The property above comes from RevIN: the same network without it does not have it."""
    model = zoo.create_model("mamba-tiny", encoder={"kind": "linear", "in_channels": 3},
                             head={"kind": "regression", "num_outputs": 3, "horizon": 5}).double().eval()
    x = torch.randn(4, 16, 3, dtype=torch.float64)
    with torch.no_grad():
        assert (model(x + 10.0) - (model(x) + 10.0)).abs().max() > 1e-3


@pytest.mark.parametrize("fields, message", [
    ({"head": {"kind": "regression", "num_outputs": 1, "horizon": 5}}, "'regression' head with 1 outputs"),
    ({"encoder": None, "head": None}, "the 'tokens' encoder and the 'lm' head"),
])
def test_models_it_cannot_serve_are_refused(fields, message):
    options = {"encoder": {"kind": "linear", "in_channels": 3}, "instance_norm": True, **fields}
    with pytest.raises(ModelConfigError, match=rf"'model.instance_norm': RevIN .*{message}.*set model.instance_norm"):
        zoo.create_model("mamba-tiny", **{k: v for k, v in options.items() if v is not None})


def test_packed_sequences_are_refused():
    with pytest.raises(ValueError, match="RevIN.*not packed sequences"):
        forecaster()(torch.randn(1, 10, 3, dtype=torch.float64), cu_seqlens=torch.tensor([0, 4, 10]))


def test_saved_and_loaded_with_its_weights(tmp_path, seed):
    from zoo.hub import load_pretrained, save_pretrained

    model = forecaster().float()
    with torch.no_grad():
        model.instance_norm.weight.uniform_(0.5, 2.0)
    save_pretrained(model, tmp_path / "export")
    loaded = load_pretrained(tmp_path / "export").eval()
    assert loaded.config.instance_norm
    x = torch.randn(2, 16, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
