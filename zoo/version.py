"""The installed distribution's version (seqzoo), or a marker when running from a tree that is not installed."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seqzoo")
except PackageNotFoundError:
    __version__ = "0.0.0+unknown"
