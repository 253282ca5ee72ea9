"""Looking at trained runs: knob sweeps and their reports, algorithm comparison, the
behavior-fit check and the diagnostics behind `experiments/diagnose.py` and the probes
(`experiments/probes/`). The top layer: it may import everything below it.
"""
