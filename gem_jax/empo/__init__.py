"""EMPO (the EMPO paper; method §7): clustering a dataset's trajectories into behavior
policies, and that cluster mixture as GEM's optional behavior support model.

`clustering` (the EM over trajectories, `fit_empo`), `model` (K cluster policies and the
state classifier q(z|s)), `support` (the mixture as a support model: fit, save, load),
`metrics` (clustering quality: Rand and adjusted Rand index). Imports only the method.
"""
