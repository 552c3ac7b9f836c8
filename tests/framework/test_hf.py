"""transformers interop (`import zoo.hf`): our exports load through `AutoConfig` / `AutoModelForCausalLM` (and a
character vocabulary through `AutoTokenizer`) with the logits `zoo.from_pretrained` gives, generate, and answer a
loglikelihood request the way lm-evaluation-harness's `hf` backend computes it, offline."""

import random

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from zoo.tasks.genomics import nucleotides

import zoo
import zoo.hf
from zoo.hf import SeqzooForCausalLM

# one preset per family; attention and BASED carry buffers that are not saved (rotary frequencies, index tables)
PRESETS = ["attention-tiny", "swa-tiny", "mamba-tiny", "hybrid-tiny", "xlstm-tiny", "gated-deltanet-tiny", "based-tiny"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("preset", PRESETS)
def test_auto_classes_load_an_export_with_the_same_logits(preset, tmp_path, seed):
    zoo.create_model(preset).save_pretrained(tmp_path / "export")
    assert AutoConfig.from_pretrained(tmp_path / "export").model_type == "seqzoo"
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "export")
    assert isinstance(model, SeqzooForCausalLM) and not model.training
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight, "tied weights stay tied"
    ours = zoo.from_pretrained(tmp_path / "export")
    ids = torch.randint(0, 256, (2, 23))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, ours(ids))


def test_generate_greedy_as_zoo_does(tmp_path, seed):
    zoo.create_model("hybrid-tiny").save_pretrained(tmp_path / "export")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "export")
    ours = zoo.from_pretrained(tmp_path / "export")
    prompt = torch.randint(0, 256, (1, 9))
    with torch.no_grad():
        theirs = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False)
    ours_ids = ours.generate(prompt, max_new_tokens=12, top_k=1)
    assert torch.equal(theirs, ours_ids)


def _loglikelihood(logits_of, context: list[int], continuation: list[int]) -> tuple[float, bool]:
    """lm-evaluation-harness's `loglikelihood` for one request: the model reads context + continuation minus the
    last token; the answer is the summed log-probability of the continuation and whether greedy decoding gives it."""
    tokens = torch.tensor(context + continuation)[:-1][None]
    logprobs = torch.log_softmax(logits_of(tokens)[0, -len(continuation):].double(), dim=-1)
    target = torch.tensor(continuation)
    return float(logprobs.gather(-1, target[:, None]).sum()), bool((logprobs.argmax(-1) == target).all())


@pytest.fixture(scope="module")
def nucleotide_lm():
    return next(c for c in zoo.pretrained.shipped_checkpoints() if c.task == "bacteria-lm").folder


def test_the_tokenizer_reads_text_as_the_task_does(nucleotide_lm, seed):
    tokenizer = AutoTokenizer.from_pretrained(nucleotide_lm)
    text = "".join(random.Random(int(torch.randint(0, 2**31, ()))).choices("ACGTNacgtn", k=64))
    assert tokenizer(text)["input_ids"] == nucleotides.encode(text.encode()).tolist()
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text.upper()
    assert tokenizer.convert_tokens_to_ids(tokenizer.bos_token) == nucleotides.BOS


def test_a_harness_loglikelihood_request_through_transformers(nucleotide_lm, seed):
    """On the shipped nucleotide LM, through AutoTokenizer and AutoModelForCausalLM as the harness's `hf` backend
    loads them: a context of bases and two candidate continuations (one repeats the context's motif); transformers'
    and zoo's answers agree, and the log-probabilities are proper (negative, finite)."""
    tokenizer = AutoTokenizer.from_pretrained(nucleotide_lm)
    model = AutoModelForCausalLM.from_pretrained(nucleotide_lm)
    ours = zoo.from_pretrained(nucleotide_lm)
    draw = random.Random(int(torch.randint(0, 2**31, ())))
    motif = "".join(draw.choices("ACGT", k=8))
    context = tokenizer(motif * 6)["input_ids"]
    with torch.no_grad():
        for continuation in (motif[:4], "".join(draw.choices("ACGT", k=4))):
            ids = tokenizer(continuation)["input_ids"]
            theirs = _loglikelihood(lambda tokens: model(tokens).logits, context, ids)
            mine = _loglikelihood(ours, context, ids)
            assert theirs[1] == mine[1] and theirs[0] == pytest.approx(mine[0], abs=1e-9)
            assert -100 < theirs[0] < 0


def test_only_character_vocabularies_get_a_tokenizer(tmp_path):
    zoo.create_model("mamba-tiny").save_pretrained(tmp_path / "ids")  # token ids that stand for no text
    assert not (tmp_path / "ids" / "tokenizer.json").exists()


def test_a_model_without_an_lm_head_is_refused(tmp_path):
    zoo.create_model("mamba-tiny", head={"kind": "classifier", "num_outputs": 3}).save_pretrained(tmp_path / "x")
    with pytest.raises(ValueError, match="'classifier' head: load it with zoo.from_pretrained"):
        AutoModelForCausalLM.from_pretrained(tmp_path / "x")


def test_padded_batches_are_refused_clearly(tmp_path, seed):
    zoo.create_model("mamba-tiny").save_pretrained(tmp_path / "export")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "export")
    ids = torch.randint(0, 256, (2, 5))
    with pytest.raises(ValueError, match="unpadded batches only"):
        model(ids, attention_mask=torch.tensor([[1] * 5, [0, 0, 1, 1, 1]]))
