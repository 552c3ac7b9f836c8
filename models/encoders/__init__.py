"""Encoders: the part of a network that turns a batch's inputs into `[B, T, d_model]`. One file per kind, each
registering itself (`zoo.models.registry.register_encoder`); `zoo.models` imports every module here."""
