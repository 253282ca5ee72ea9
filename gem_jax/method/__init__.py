"""The method: GEM's model, losses, training step and selection (docs/method.md).

Read `learner.py` (the train state, the update, the fused loop), then `select.py` (the
score and the candidate set). The rest: `config.py` (`GEMConfig`, every default), `types.py`
(`Batch`), `gmm.py` (mixture densities), `networks.py` (actor, behavior GMM, critics,
value), `losses.py` (pure losses with explicit arguments), `audits.py` (SupportZ,
Violation, CollapseDist).

This layer imports only jax, flax, optax, numpy, chex and itself (tests/test_layers.py):
no harness, data, EMPO or analysis. A behavior support model other than the GMM reaches
selection as an argument (`select.PolicyParams.support`).
"""
