"""Vision: MNIST, Fashion-MNIST and CIFAR-10 classified from their pixels read one at a time (sequential MNIST,
permuted MNIST, sequential CIFAR) or from 2-D patches (with timm's and torchvision's augmentation and timm's mixup),
and the IDX reader of the MNIST files. Every module here registers its tasks on import."""

import importlib as _importlib
import pkgutil as _pkgutil

for _info in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_info.name}")
