"""Model benchmark: every model family at the same parameter count, beside the upstream models.

    python benchmarks/models.py                                  # CPU or GPU defaults, all families
    python benchmarks/models.py --families attention mamba xlstm --d-model 256 --layers 4 --lengths 256 1024

Measures training tokens/s and peak memory over T, decoding tokens/s at batch 1 and 16 after a prompt, and
the decoding state's memory as tokens are generated. Same as `zoo bench models`.
Results: benchmarks/results/models-<machine>-<dtype>[-tag].{json,png}.
"""

import zoo  # noqa: F401  (makes lightning/torchvision importable on CPU torch before anything else)
from zoo.bench.models_main import main

if __name__ == "__main__":
    main()
