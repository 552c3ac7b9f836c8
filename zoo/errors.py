"""Errors seqzoo raises for user mistakes: each message names the problem and what to do. (The models' own:
`zoo.models.ModelConfigError` for a wrong model config key, `zoo.models.upstream.ConversionError` for an upstream
checkpoint that cannot be converted.)"""


class ConfigError(ValueError):
    """A config file, key, value or override is wrong; raised before any work starts."""


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing, incomplete or corrupt."""

