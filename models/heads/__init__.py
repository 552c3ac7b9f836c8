"""Heads: the part of a network after the backbone, from features `[B, T, d_model]` to what a task predicts. One
file per kind, each registering itself (`zoo.models.registry.register_head`); `zoo.models` imports every module
here."""
