"""seqzoo's benchmarks: kernel and model timings against the peer libraries, with JSON results and plots.

They live in the source checkout, outside the installed library (wheels do not ship them), and run from its root:
`python -m benchmarks.kernels`, `python -m benchmarks.models` (or `zoo bench kernels|models`, which launches them).
`benchmarks.upstream` imports the peer libraries for the benchmarks and for tests/peers alike.
"""
