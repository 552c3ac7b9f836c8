"""seqzoo: a model zoo of efficient sequence architectures on shared scan and attention kernels."""

from zoo.compat_torchvision import ensure_torchvision_importable

ensure_torchvision_importable()
