"""Input checks every op shares: each failure is a ValueError naming the op, the argument, the shape
(or dtype) it has and the one it should have."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def check_backend(op: str, backend: str, backends: tuple[str, ...]) -> None:
    """Raise ValueError unless `backend` is one of `backends`."""
    if backend not in backends:
        raise ValueError(f"{op}: unknown backend {backend!r}; the backends of this op are {backends}")


def check_chunk_size(op: str, chunk_size: int) -> None:
    """Raise ValueError unless `chunk_size` is a positive int."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{op}: chunk_size must be a positive int, got {chunk_size!r}")


def _describe(dims: str, expected: Sequence[int | None]) -> str:
    """"(B, T, H)" with the known sizes appended: "(B, T, H) = (2, 10, 4)"."""
    text = f"({dims})"
    if any(e is not None for e in expected):
        shown = ", ".join(letter if e is None else str(e) for letter, e in zip(dims.split(", "), expected))
        text += f" = ({shown})"
    return text


def _matches(tensor: Tensor, expected: Sequence[int | None]) -> bool:
    return tensor.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, tensor.shape))


def check_shape(
    op: str, name: str, tensor: Tensor, dims: str, expected: Sequence[int | None], source: str = ""
) -> None:
    """Raise ValueError unless `tensor.shape` matches `expected` (None matches any size).

    dims names the axes, e.g. "B, T, H, K"; source says where the expected sizes come from, e.g. "q".
    """
    check_shape_one_of(op, name, tensor, [(dims, expected)], source)


def check_shape_one_of(
    op: str,
    name: str,
    tensor: Tensor,
    options: Sequence[tuple[str, Sequence[int | None]]],
    source: str = "",
) -> None:
    """Raise ValueError unless `tensor.shape` matches one of `options`, pairs (dims, expected) as in
    `check_shape`; the message lists every option, e.g. "expected (B, T, H) = (..) or (B, T, H, K) = (..)"."""
    if not isinstance(tensor, Tensor):
        raise ValueError(f"{op}: {name} must be a tensor ({options[0][0]}), got {type(tensor).__name__}")
    if any(_matches(tensor, expected) for _, expected in options):
        return
    wanted = " or ".join(_describe(dims, expected) for dims, expected in options)
    message = f"{op}: {name} has shape {tuple(tensor.shape)} but expected {wanted}"
    if source:
        message += f" from {source}"
    raise ValueError(message)


def check_floating(op: str, **tensors: Tensor | None) -> None:
    """Raise ValueError for any given tensor whose dtype is not real floating point."""
    for name, tensor in tensors.items():
        if tensor is not None and not tensor.is_floating_point():
            raise ValueError(f"{op}: {name} has dtype {tensor.dtype} but expected a real floating-point dtype")


def check_log_decay(op: str, name: str, g: Tensor, hint: str = "") -> None:
    """Raise ValueError if the log-decay `g` has an entry > 0 (a growth).

    The chunked and Triton forms of the scans factor their decays so that every exponential they take is of a
    number <= 0, which holds only for g <= 0: a growing state would overflow instead of underflowing harmlessly.
    The loop forms (reference, step) compute the recurrence as written and accept any g. hint says what the
    caller controls that makes g (e.g. "A must be <= 0"). Reading the largest entry costs one device sync."""
    if g.numel() == 0:
        return
    largest = float(g.detach().max())
    if largest > 0:
        message = (
            f"{op}: {name} has entries > 0 (the largest is {largest:.3g}), but it is a log-decay: the chunked and "
            "Triton forms need it <= 0 never to overflow"
        )
        message += f"; {hint}" if hint else ""
        raise ValueError(message + "; backend='reference' runs the recurrence as written for any sign")
