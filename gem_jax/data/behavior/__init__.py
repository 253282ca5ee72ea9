"""Behavior policies that make datasets: `sac` trains the SAC policies shipped in
`gem_jax/data/policies/` (tools/train_sac.py); the dataset builders roll them out."""
