"""Test-side shims that let the upstream oracles run on a CPU-only machine.

Nothing here writes into site-packages, and every patch is scoped to the upstream packages' own code
(`UPSTREAM`), so our kernels and other tests in the same process run exactly as without it.

- `selective_scan_cuda`: `import mamba_ssm` imports this compiled CUDA extension unconditionally. A
  stand-in module is put into `sys.modules` when the real one is absent; touching any of its attributes
  raises (`zoo.bench.peers.install_selective_scan_cuda_stub`, shared with the benchmarks).
- Under the Triton interpreter (TRITON_INTERPRET=1, which must be set before the kernels are defined,
  that is before the upstream modules are imported; tests/conftest.py sets it on machines without CUDA):
  * `@triton.autotune` over several configs benchmarks them through a GPU driver and fails with
    "0 active drivers": upstream autotuned kernels are narrowed to their first config.
  * the interpreter leaves `for i in range(n)` loop indices as Python ints, so kernel code such as
    `i_t.to(tl.int64)` fails: upstream kernels are rewritten with each loop index converted to a
    Triton scalar at the top of the loop body, as the interpreter already does for assignments.
  * mamba_ssm's wrappers call `torch.cuda.device(x.device.index)` around launches (a TypeError on a
    CPU tensor) and, in backward, `torch.cuda.get_device_properties(...).multi_processor_count`:
    inside mamba_ssm's modules, `torch` is replaced by a proxy whose `cuda.device` is a null context
    and whose `cuda.get_device_properties` describes a small fake device.
"""

from __future__ import annotations

import ast
import contextlib
import os
import sys
import types

import torch

from zoo.bench.peers import install_selective_scan_cuda_stub

UPSTREAM = ("fla", "mamba_ssm")
FAKE_SM_COUNT = 4  # only sizes mamba_ssm's backward work split; any positive count gives the same result

_patched: set[str] = set()


def interpreting() -> bool:
    """True when Triton kernels defined from now on run under the interpreter."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def _is_upstream(module_name: str | None) -> bool:
    return (module_name or "").split(".")[0] in UPSTREAM


def _narrow_upstream_autotune() -> None:
    """Run upstream autotuned kernels with their first config only (no benchmarking, which needs a GPU)."""
    if "autotune" in _patched:
        return
    from triton.runtime.autotuner import Autotuner

    original_run = Autotuner.run

    def run(self, *args, **kwargs):
        if len(self.configs) > 1 and _is_upstream(getattr(self.base_fn, "__module__", None)):
            self.configs = self.configs[:1]
        return original_run(self, *args, **kwargs)

    Autotuner.run = run
    _patched.add("autotune")


class _LoopIndexToTensor(ast.NodeTransformer):
    """Insert `i = interpreter_semantic.to_tensor(i, False)` at the top of every `for i in ...:` body."""

    def visit_For(self, node: ast.For) -> ast.For:
        self.generic_visit(node)
        if isinstance(node.target, ast.Name):
            name = node.target.id
            convert = ast.Call(
                func=ast.Attribute(value=ast.Name(id="interpreter_semantic", ctx=ast.Load()), attr="to_tensor", ctx=ast.Load()),
                args=[ast.Name(id=name, ctx=ast.Load()), ast.Constant(value=False)],
                keywords=[],
            )
            node.body.insert(0, ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=convert))
        return node


def _upstream_loop_indices_as_tensors() -> None:
    """Rewrite upstream kernels so that methods on loop indices work under the interpreter."""
    if "loops" in _patched:
        return
    from triton.runtime import interpreter

    original_transform = interpreter.FunctionRewriter._transform_ast
    loops = _LoopIndexToTensor()

    def _transform_ast(self, src):
        tree = original_transform(self, src)  # the interpreter's own rewrite (assignments), line numbers fixed
        if _is_upstream(getattr(self.fn, "__module__", None)):
            tree = ast.fix_missing_locations(loops.visit(tree))
        return tree

    interpreter.FunctionRewriter._transform_ast = _transform_ast
    _patched.add("loops")


class _CpuCuda:
    """`torch.cuda` as mamba_ssm's wrappers see it on a CPU-only torch (everything else delegates)."""

    @staticmethod
    def device(index):
        return contextlib.nullcontext()

    @staticmethod
    def get_device_properties(device=None):
        return types.SimpleNamespace(multi_processor_count=FAKE_SM_COUNT, name="cpu (Triton interpreter)")

    def __getattr__(self, name: str):
        return getattr(torch.cuda, name)


class _TorchWithCpuCuda(types.ModuleType):
    """The torch module, but with `cuda` replaced by `_CpuCuda`."""

    cuda = _CpuCuda()

    def __getattr__(self, name: str):
        return getattr(torch, name)


def _mamba_ssm_without_cuda_device() -> None:
    """Point the `torch` name of every loaded mamba_ssm module at `_TorchWithCpuCuda`."""
    proxy = _TorchWithCpuCuda("torch")
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "mamba_ssm" and getattr(module, "torch", None) is torch:
            module.torch = proxy


def before_import(module_name: str) -> None:
    """Shims that must be in place before `module_name` (an upstream module) is first imported."""
    top = module_name.split(".")[0]
    if top == "mamba_ssm":
        install_selective_scan_cuda_stub()
    if top in UPSTREAM and interpreting():
        _narrow_upstream_autotune()
        _upstream_loop_indices_as_tensors()


def after_import(module_name: str) -> None:
    """Shims applied to the upstream modules once loaded."""
    if module_name.split(".")[0] == "mamba_ssm" and not torch.cuda.is_available():
        _mamba_ssm_without_cuda_device()
