"""Model families: one folder each, holding its mixers, their config sections, its presets and the converters of its
upstream checkpoints, all registered on import. `zoo.models` imports every folder here, so adding a family is
adding a folder."""
