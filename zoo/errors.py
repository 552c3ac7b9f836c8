"""Errors seqzoo raises for user mistakes: each message names the problem and what to do."""


class ConfigError(ValueError):
    """A config file, key, value or override is wrong; raised before any work starts."""


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing, incomplete or corrupt."""


class ConversionError(CheckpointError):
    """An upstream checkpoint (mamba_ssm, fla, ...) cannot be converted: a file is missing, a config key has no
    counterpart in our models, or a tensor does not fit."""
