"""The model benchmark: family sizing, records, JSON and plot, state memory, unavailable peers, the command."""

import json
from dataclasses import dataclass

import pytest
import torch
from rich.console import Console

from benchmarks import models as bench_models
from benchmarks.harness.arguments import RESULTS
from benchmarks.harness.measure import state_bytes
from benchmarks.model_suite import peer_models
from benchmarks.model_suite.case import ModelCase
from benchmarks.model_suite.cases import model_cases
from benchmarks.model_suite.families import TOLERANCE, Size, family_names, sized_families
from benchmarks.model_suite.report import figure, print_model_tables
from benchmarks.model_suite.runner import Plan, run_models
from benchmarks.upstream import try_load

TINY = ["--device", "cpu", "--d-model", "32", "--layers", "2", "--window", "8", "--min-seconds", "0"]
CPU = torch.device("cpu")


def test_every_registered_family_is_matched_to_the_attention_models_parameter_count():
    names = family_names()
    assert {"attention", "swa", "longformer", "bigbird", "mamba", "mamba2", "hybrid", "deltanet", "gated-deltanet",
            "based"} <= set(names)
    sized = sized_families(names, Size(d_model=64, layers=4, window=16))
    target = sized[names.index("attention")].parameters
    for s in sized:
        assert s.target == target and abs(s.parameters / target - 1) <= TOLERANCE, s.family.name
    layers = {s.family.name: s.overrides["layers"] for s in sized}
    assert layers["hybrid"][:2] == ["mamba2", "attention"] and set(layers["mamba"]) == {"mamba"}


def test_unknown_families_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown model family .'transformer'.; choose from: attention"):
        sized_families(["attention", "transformer"], Size())
    with pytest.raises(SystemExit, match="unknown model famil"):
        bench_models.main(["--families", "nope", "--out", str(tmp_path), *TINY])


def test_state_bytes_counts_each_storage_once_through_nested_states():
    @dataclass
    class State:
        conv: torch.Tensor
        cell: tuple

    big = torch.zeros(10, 4)
    state = [State(big[:, :2], (big[1:], torch.zeros(3, dtype=torch.float64))), {"x": torch.zeros(5)}, None]
    assert state_bytes(state) == 40 * 4 + 3 * 8 + 5 * 4


def test_model_benchmark_writes_json_and_plot_with_every_measurement(tmp_path):
    argv = ["--families", "attention", "mamba", "--lengths", "16", "32", "--prompt", "8", "--decode-tokens", "2",
            "--decode-batches", "1", "2", "--state-lengths", "1", "4", "8", "--out", str(tmp_path), "--tag", "tiny", *TINY]
    bench_models.main(argv)
    (json_path,) = tmp_path.glob("models-cpu*-float32-tiny.json")
    assert json_path.with_suffix(".png").stat().st_size > 0
    payload = json.loads(json_path.read_text())
    assert payload["benchmark"] == "models" and payload["machine"]["device"] == "cpu"
    assert [f["family"] for f in payload["families"]] == ["attention", "mamba"]
    assert all(f["parameters"] > 0 and abs(f["deviation"]) <= TOLERANCE for f in payload["families"])
    records = payload["results"]
    ours = [r for r in records if r["impl"] == "seqzoo"]
    assert {(r["family"], r["T"]) for r in ours if r["measure"] == "train"} == {
        (f, t) for f in ("attention", "mamba") for t in (16, 32)}
    assert all(r["tokens_per_s"] > 0 and r["peak_mib"] > 0 for r in ours if r["measure"] == "train")
    for r in ours:
        if r["measure"] in ("train", "decode"):  # the spread of the timed calls, and the warm-up
            assert r["tokens_per_s_min"] <= r["tokens_per_s"] <= r["tokens_per_s_max"]
            assert r["ms_min"] <= r["ms"] <= r["ms_max"] and r["warmup"] >= 1 and r["first_call_ms"] > 0
    assert payload["full_grid"] is False and payload["grid"]["families"] == ["attention", "mamba"]
    assert {(r["family"], r["batch"]) for r in ours if r["measure"] == "decode"} == {
        (f, b) for f in ("attention", "mamba") for b in (1, 2)}
    assert all(r["tokens_per_s"] > 0 for r in ours if r["measure"] == "decode")

    def state(family, impl="seqzoo"):
        rows = [r for r in records if r["measure"] == "state" and r["family"] == family and r["impl"] == impl]
        return [r["context"] for r in rows], [r["state_bytes"] for r in rows]

    contexts, attention = state("attention")
    assert contexts == [9, 12, 16] and attention[0] < attention[1] < attention[2]  # the KV cache grows
    contexts, mamba = state("mamba")
    assert contexts == [9, 12, 16] and mamba[0] == mamba[1] == mamba[2] > 0  # the recurrent state does not
    # mamba_ssm's model beside ours: run where it is installed, else skipped with the reason; never dropped
    upstream = [r for r in records if r["impl"] == "mamba_ssm:MambaLMHeadModel"]
    assert {r["measure"] for r in upstream} == {"train", "decode", "state"}
    assert all("tokens_per_s" in r or "state_bytes" in r or r["skipped"] for r in upstream)
    (model,) = [m for m in payload["models"] if m["impl"] == "mamba_ssm:MambaLMHeadModel"]
    assert model.get("parameters") or model["unavailable"]


def test_unavailable_and_failing_peers_are_recorded_with_their_reasons():
    (deltanet,) = sized_families(["deltanet"], Size(d_model=32, layers=2, window=8))
    (ours, fla) = model_cases([deltanet])
    assert fla.impl == "fla:DeltaNetForCausalLM" and fla.upstream

    def broken(device, dtype, max_len):
        raise RuntimeError("no kernel for this\nsecond line")

    failing = ModelCase("deltanet", "peer:broken", broken, upstream=True)
    plan = Plan(lengths=(16, 32), batch=1, decode_batches=(1, 4), prompt=4, decode_tokens=1, state_lengths=(1,),
                vocab_size=256, measures=("train", "decode", "state"), min_seconds=0)
    records, models = run_models([fla, failing], plan, CPU, torch.float32)
    assert models[0]["unavailable"].startswith("needs CUDA")
    assert models[1]["unavailable"] == "failed to build (RuntimeError: no kernel for this)"
    for impl, reason in ((fla.impl, models[0]["unavailable"]), ("peer:broken", models[1]["unavailable"])):
        skipped = [(r["measure"], r.get("T"), r.get("batch")) for r in records if r["impl"] == impl]
        assert skipped == [("train", 16, 1), ("train", 32, 1), ("decode", None, 1), ("decode", None, 4),
                           ("state", None, 1)]
        assert all(r["skipped"] == reason for r in records if r["impl"] == impl)


def test_python_loop_peers_are_capped_on_the_cpu_with_a_reason():
    (mamba,) = sized_families(["mamba"], Size(d_model=32, layers=2, window=8))
    (_, upstream) = model_cases([mamba])
    assert upstream.longest(CPU) == 512 and upstream.longest(torch.device("cuda")) is None
    plan = Plan(lengths=(1024,), batch=1, decode_batches=(), prompt=4, decode_tokens=1, state_lengths=(1,),
                vocab_size=256, measures=("train",), min_seconds=0)
    records, models = run_models([upstream], plan, CPU, torch.float32)
    if "unavailable" not in models[0]:
        (record,) = records
        assert record["skipped"] == "longer than 512 on the CPU (a Python loop over time)"


@pytest.mark.parametrize("family", ["mamba", "mamba2", "deltanet", "gated-deltanet", "xlstm"])
def test_upstream_models_are_built_at_our_configuration(family):
    """The upstream model of each family, built on the meta device from the config we give it (the CUDA
    configuration where it differs), has our parameter count."""
    if family not in family_names():
        pytest.skip(f"no {family} preset registered")
    (sized,) = sized_families([family], Size(d_model=256, layers=2, window=16))
    config = sized.config
    with torch.device("meta"):
        if family.startswith("mamba"):
            mixer, reason = try_load("mamba_ssm.models.mixer_seq_simple")
            if mixer is None:
                pytest.skip(reason)
            fields = peer_models.mamba_ssm_config(config, cuda=True)
            fields.pop("norm_epsilon")
            from mamba_ssm.models.config_mamba import MambaConfig

            upstream = mixer.MambaLMHeadModel(MambaConfig(**fields), device="meta")
        elif family == "xlstm":
            xl = pytest.importorskip("xlstm")
            upstream = xl.xLSTMLMModel(peer_models.xlstm_config(xl, config, 64, "vanilla", "float32"))
        else:
            models = pytest.importorskip("fla.models")
            config_name, model_name, fields = peer_models.fla_config(config)
            upstream = getattr(models, model_name)(getattr(models, config_name)(**fields))
    assert sum(p.numel() for p in upstream.parameters()) == sized.parameters


def test_without_matching_every_family_takes_the_size_as_given():
    sized = sized_families(["attention", "mamba", "mamba2"], Size(d_model=64, layers=3, d_intermediate=96),
                           match_params=False)
    assert [len(s.config.layers) for s in sized] == [3, 3, 3]
    assert [s.config.d_intermediate for s in sized] == [96, 0, 96]  # Mamba-1 blocks have no MLP
    assert all(s.target == s.parameters for s in sized)


def test_the_committed_results_from_before_the_spread_still_draw_and_print(capsys):
    payload = json.loads((RESULTS / "models-cpu2-float32.json").read_text())
    assert not any("ms_min" in r for r in payload["results"])  # written before spreads were kept
    assert figure(payload["results"], "old results") is not None
    print_model_tables(payload["results"], Console(width=250))
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in capsys.readouterr().out.splitlines()
            if line.startswith("│ attention ")]
    training = [row for row in rows if row[2] == "256"]
    assert training and all(row[4] == "-" and row[6] == "-" for row in training)  # no spread, no first call: "-"
