"""Shipped checkpoints (`zoo.checkpoints`): one folder per model, in the hub layout (`zoo.pretrained` lists them)."""
