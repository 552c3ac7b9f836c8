"""Building blocks shared across families: norms, MLPs, the short convolution, rotary embeddings, dt initialisation."""
