"""Related systems of the seed papers, built from the method's pieces (method §8: LOM).

Imports only `gem_jax.method` (tests/test_layers.py)."""
