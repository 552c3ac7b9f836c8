"""Importing the upstream packages (mamba_ssm, causal_conv1d, fla, mlstm_kernels, xlstm) on this machine: the one
loader that the benchmarks and the parity tests (tests/peers) share.

`load(name)` imports an upstream module (ImportError when it cannot be); `try_load(name)` gives `(module, None)`
or `(None, reason)` for callers that record a missing peer instead of failing. Both first put in place what the
module needs here. Nothing is written into site-packages, and every patch is scoped to the upstream packages'
own code (`UPSTREAM`), so our kernels and everything else in the process run exactly as without them.

- `selective_scan_cuda`: `import mamba_ssm` imports this compiled CUDA extension unconditionally. Where it is
  absent (a CPU machine, or mamba_ssm installed without its CUDA build) a stand-in module takes its place in
  `sys.modules`; touching any of its attributes raises, and `stand_in("selective_scan_cuda")` tells callers.
- Under the Triton interpreter (TRITON_INTERPRET=1, which must be set before the kernels are defined, that is
  before the upstream modules are imported; tests/conftest.py sets it on machines without CUDA):
  * `@triton.autotune` over several configs benchmarks them through a GPU driver and fails with
    "0 active drivers": upstream autotuned kernels are narrowed to their first config.
  * the interpreter leaves `for i in range(n)` loop indices as Python ints, so kernel code such as
    `i_t.to(tl.int64)` fails: upstream kernels are rewritten with each loop index converted to a Triton
    scalar at the top of the loop body, as the interpreter already does for assignments.
- Without CUDA, mamba_ssm's wrappers call `torch.cuda.device(x.device.index)` around launches (a TypeError on
  a CPU tensor) and, in backward, `torch.cuda.get_device_properties(...).multi_processor_count`: inside
  mamba_ssm's modules, `torch` is replaced by a proxy whose `cuda.device` is a null context and whose
  `cuda.get_device_properties` describes a small fake device.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import os
import sys
import types
import warnings

import torch

UPSTREAM = ("fla", "mamba_ssm")
FAKE_SM_COUNT = 4  # only sizes mamba_ssm's backward work split; any positive count gives the same result
INSTALL_HINT = "./install.sh installs the peers (SEQZOO_EXTRAS includes peers by default)"

# Warnings that importing the upstream packages on a CPU machine always gives: not ours to act on.
IMPORT_WARNINGS = (
    ("Triton is not supported on current platform", UserWarning),  # fla, no GPU: it falls back to the CPU
    (".*torch.jit.script_method.* is deprecated", DeprecationWarning),  # torch, while fla imports transformers
)

_patched: set[str] = set()


def interpreting() -> bool:
    """True when Triton kernels defined from now on run under the interpreter."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def load(name: str) -> types.ModuleType:
    """Import the upstream module `name` with what it needs on this machine; ImportError when it cannot be."""
    _before_import(name)
    with warnings.catch_warnings():
        for message, category in IMPORT_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        module = importlib.import_module(name)
    _after_import(name)
    return module


def try_load(name: str) -> tuple[types.ModuleType | None, str | None]:
    """`(module, None)`, or `(None, reason)` when `name` cannot be imported (a peer can fail with anything on
    import: a missing CUDA build, a version that does not fit this torch, ...)."""
    try:
        return load(name), None
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else ""
        hint = f"; {INSTALL_HINT}" if isinstance(error, ModuleNotFoundError) else ""
        return None, f"{name} unavailable ({type(error).__name__}: {message}){hint}"


def stand_in(name: str) -> bool:
    """True when the compiled module `name` is this file's stand-in, not the real extension."""
    return isinstance(sys.modules.get(name), _StandIn)


class _StandIn(types.ModuleType):
    """A compiled extension that is not there: importing it works, touching anything in it raises."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(
            f"{self.__name__}.{name}: this is seqzoo's stand-in for mamba_ssm's CUDA extension "
            "(benchmarks/upstream.py); the extension is not built on this machine"
        )


def _stand_in_for_selective_scan_cuda() -> None:
    if "selective_scan_cuda" in sys.modules or importlib.util.find_spec("selective_scan_cuda") is not None:
        return
    sys.modules["selective_scan_cuda"] = _StandIn("selective_scan_cuda", "seqzoo stand-in (benchmarks/upstream.py)")


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


def _before_import(module_name: str) -> None:
    """What must be in place before `module_name` is first imported."""
    top = module_name.split(".")[0]
    if top == "mamba_ssm":
        _stand_in_for_selective_scan_cuda()
    if top in UPSTREAM and interpreting():
        _narrow_upstream_autotune()
        _upstream_loop_indices_as_tensors()


def _after_import(module_name: str) -> None:
    """Patches applied to the upstream modules once loaded."""
    if module_name.split(".")[0] == "mamba_ssm" and not torch.cuda.is_available():
        _mamba_ssm_without_cuda_device()
