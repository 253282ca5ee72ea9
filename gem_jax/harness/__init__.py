"""Running the method: the run loop, seeds across devices, checkpoints, evaluation, export.

`runner.run_training` is a whole run (data -> seed-stacked training on device -> evaluation ->
checkpoints -> logs); `parallel` shards seeds over devices; `checkpoint` saves and restores
the train state atomically (orbax); `evaluation` rolls policies out; `export` gives a run's
policy as a plain function or a `jax.export` artifact; `cli` is the command-line glue of
`experiments/` (one-line errors); `runlog` and `logwriters` write metrics; `suite` runs a
table's queue of runs.

Imports the method, `gem_jax.presets`, data, envs and EMPO; never analysis.
"""
