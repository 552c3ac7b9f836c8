"""The model benchmark: every model family at one parameter count, beside the upstream models."""
