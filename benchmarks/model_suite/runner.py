"""Run model benchmark cases: training throughput over T, decoding throughput per batch size, and the decoding
state's memory as tokens are generated."""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rich.progress import Progress

from benchmarks.harness.measure import Measurement, measure, state_bytes, timed_call
from benchmarks.model_suite.case import LM, ModelCase

MEASURES = ("train", "decode", "state")
# A training call slower than this (a Python loop over time at long T) gets one warm-up call and one timed call
# at least (the timing of a call that long varies little), instead of two and three.
SLOW_SECONDS = 2.0


@dataclass(frozen=True)
class Plan:
    """What to measure: training at batch `batch` over `lengths`; decoding `decode_tokens` tokens after a
    `prompt`-token prompt at each of `decode_batches`; the state's memory (batch 1, after the same prompt) at
    each number of generated tokens in `state_lengths`."""

    lengths: tuple[int, ...]
    batch: int
    decode_batches: tuple[int, ...]
    prompt: int
    decode_tokens: int
    state_lengths: tuple[int, ...]
    vocab_size: int
    measures: tuple[str, ...] = MEASURES
    min_seconds: float = 0.5

    @property
    def max_len(self) -> int:
        """The longest sequence a model sees: a training length, or the prompt and every generated token."""
        return max([*self.lengths, self.prompt + max(self.decode_tokens, *self.state_lengths)])

    def count(self) -> int:
        sizes = {"train": len(self.lengths), "decode": len(self.decode_batches), "state": 1}
        return sum(sizes[m] for m in self.measures)


def _mib(n: int) -> float:
    return round(n / 2**20, 3)


def _timing(result: Measurement, tokens: int) -> dict:
    """The measurement's fields, and tokens/s at its median, slowest and fastest call (`tokens` per call)."""
    fields = result.record(digits=3)
    rate = {"tokens_per_s": fields["ms"], "tokens_per_s_min": fields["ms_max"], "tokens_per_s_max": fields["ms_min"]}
    return {**fields, **{key: round(tokens / ms * 1e3, 1) for key, ms in rate.items()}}


def _train(lm: LM, case: ModelCase, length: int, plan: Plan, device: torch.device) -> dict:
    ids = torch.randint(0, plan.vocab_size, (plan.batch, length), device=device)
    parameters = list(lm.module.parameters())
    lm.module.train()

    def forward_backward() -> None:
        logits = lm.logits(ids)
        F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten()).backward()

    def drop_gradients() -> None:
        for p in parameters:
            p.grad = None

    first_call_ms = timed_call(forward_backward, device, drop_gradients)  # a slow model is timed fewer times
    slow = first_call_ms > SLOW_SECONDS * 1e3
    result = measure(forward_backward, device, reset=drop_gradients, min_seconds=plan.min_seconds,
                     warmup=0 if slow else 1, min_repeats=1 if slow else 3, first_call_ms=first_call_ms,
                     peak_memory=case.profile_memory or device.type == "cuda")
    drop_gradients()
    return {**_timing(result, plan.batch * length),
            "peak_mib": None if result.peak_bytes is None else _mib(result.peak_bytes)}


def _prompt(plan: Plan, batch: int, device: torch.device) -> torch.Tensor:
    return torch.randint(0, plan.vocab_size, (batch, plan.prompt), device=device)


@torch.no_grad()
def _decode(lm: LM, batch: int, plan: Plan, device: torch.device) -> dict:
    """Greedy decoding of `decode_tokens` tokens from the prompt's state, timed; each timed run starts from a
    copy of that state (made untimed: upstream states are updated in place)."""
    lm.module.eval()
    prompt = _prompt(plan, batch, device)
    prefilled = lm.prefill(prompt, plan.decode_tokens)
    current = {}

    def restore() -> None:
        current["state"] = copy.deepcopy(prefilled)

    def decode() -> None:
        state, token = current["state"], prompt[:, -1]
        for _ in range(plan.decode_tokens):
            logits, state = lm.step(token, state)
            token = logits.argmax(-1)

    result = measure(decode, device, reset=restore, peak_memory=False, warmup=1, min_seconds=plan.min_seconds)
    return _timing(result, batch * plan.decode_tokens)


@torch.no_grad()
def _state_memory(lm: LM, plan: Plan, device: torch.device) -> list[dict]:
    """The state's bytes after the prompt and each number of generated tokens in `state_lengths` (batch 1)."""
    lm.module.eval()
    prompt = _prompt(plan, 1, device)
    state, token, generated, rows = lm.prefill(prompt, max(plan.state_lengths)), prompt[:, -1], 0, []
    for target in sorted(plan.state_lengths):
        while generated < target:
            logits, state = lm.step(token, state)
            token, generated = logits.argmax(-1), generated + 1
        size = state_bytes(state)
        rows.append({"generated": generated, "context": plan.prompt + generated, "state_bytes": size,
                     "state_mib": _mib(size)})
    return rows


def _guarded(case: ModelCase, work: Callable[[], dict | list[dict]]) -> list[dict]:
    """Run `work`; out of memory is recorded as a skip, and so is any failure of an upstream model."""
    try:
        result = work()
    except torch.OutOfMemoryError:
        return [{"skipped": "out of memory"}]
    except Exception as error:
        if isinstance(error, RuntimeError) and "can't allocate memory" in str(error):  # the CPU allocator's
            return [{"skipped": "out of memory"}]
        if not case.upstream:
            raise
        return [{"skipped": f"failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"}]
    return result if isinstance(result, list) else [result]


def _measurements(case: ModelCase, lm: LM | None, reason: str | None, plan: Plan, device: torch.device):
    """(record head, work) for every measurement of the plan; work returns a record body, or a list of them."""
    longest = case.longest(device)
    for what in plan.measures:
        if what == "train":
            for length in plan.lengths:
                head = {"measure": "train", "T": length, "batch": plan.batch}
                if reason is None and longest is not None and length > longest:
                    yield head, lambda: {"skipped": f"longer than {longest} on the CPU (a Python loop over time)"}
                else:
                    yield head, lambda length=length: _train(lm, case, length, plan, device)
        elif what == "decode":
            for batch in plan.decode_batches:
                head = {"measure": "decode", "batch": batch, "prompt": plan.prompt, "tokens": plan.decode_tokens}
                yield head, lambda batch=batch: _decode(lm, batch, plan, device)
        else:
            yield {"measure": "state", "batch": 1, "prompt": plan.prompt}, lambda: _state_memory(lm, plan, device)


def _build(case: ModelCase, plan: Plan, device: torch.device, dtype: torch.dtype) -> tuple[LM | None, str | None]:
    reason = case.unavailable(device)
    if reason is not None:
        return None, reason
    try:
        return case.build(device, dtype, plan.max_len), None
    except Exception as error:
        if not case.upstream:
            raise
        return None, f"failed to build ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"


def run_models(
    cases: Iterable[ModelCase], plan: Plan, device: torch.device, dtype: torch.dtype
) -> tuple[list[dict], list[dict]]:
    """(records, models): one record per measurement of each case, `{"measure", "family", "impl", ...}` with its
    numbers or `"skipped": reason`; one entry per case with its parameter count and notes, or `unavailable`."""
    cases = list(cases)
    records, models = [], []
    with Progress(transient=True) as progress:
        task = progress.add_task("benchmarking", total=len(cases) * plan.count())
        for case in cases:
            torch.manual_seed(0)
            who = {"family": case.family, "impl": case.impl}
            progress.update(task, description=f"{case.family} {case.impl}: building")
            lm, reason = _build(case, plan, device, dtype)
            models.append({**who, "upstream": case.upstream,
                           **({"unavailable": reason} if lm is None else {"parameters": lm.parameters,
                                                                          "notes": lm.notes})})
            for head, work in _measurements(case, lm, reason, plan, device):
                progress.update(task, advance=1, description=f"{case.family} {case.impl} {head['measure']}")
                bodies = [{"skipped": reason}] if reason is not None else _guarded(case, work)
                records += [{"measure": head["measure"], **who, **head, **body} for body in bodies]
            del lm
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return records, models
