"""Errors seqzoo raises for user mistakes: each message names the problem and what to do."""


class ConfigError(ValueError):
    """A config file, key, value or override is wrong; raised before any work starts."""


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing, incomplete or corrupt."""
