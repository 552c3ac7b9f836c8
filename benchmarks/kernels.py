"""Kernel benchmark: every kernel form against the peer libraries, over sequence length.

    python benchmarks/kernels.py                      # CPU grid, float32; or the GPU grid on CUDA
    python benchmarks/kernels.py --ops scan ssd --lengths 1024 4096

Same as `zoo bench kernels`. Results: benchmarks/results/kernels-<machine>-<dtype>.{json,png}.
"""

import zoo  # noqa: F401  (makes lightning/torchvision importable on CPU torch before anything else)
from zoo.bench.kernels_main import main

if __name__ == "__main__":
    main()
