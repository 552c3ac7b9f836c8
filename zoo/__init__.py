"""seqzoo: a model zoo of efficient sequence architectures on shared scan and attention kernels.

    import zoo
    zoo.list_models()                            # registered presets
    model = zoo.create_model("hybrid-tiny")      # random init; pretrained="mqar" loads shipped weights
    model = zoo.from_pretrained("runs/.../export")
"""

from importlib.metadata import PackageNotFoundError, version

from zoo.compat_torchvision import ensure_torchvision_importable

ensure_torchvision_importable()  # before anything imports lightning, timm or torchmetrics

try:
    __version__ = version("seqzoo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from zoo.errors import CheckpointError, ConfigError  # noqa: E402
from zoo.factory import create_model  # noqa: E402
from zoo.hub import from_pretrained, save_pretrained  # noqa: E402
from zoo.models import list_models, register_model  # noqa: E402

__all__ = [
    "CheckpointError",
    "ConfigError",
    "create_model",
    "from_pretrained",
    "list_models",
    "register_model",
    "save_pretrained",
]
