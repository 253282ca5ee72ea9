"""Command-line glue shared by the `experiments/` scripts: config assembly and one-line
error reporting (no tracebacks for bad input)."""

from __future__ import annotations

import sys

from gem_jax.config import ALGORITHMS, GEMConfig, algorithm, from_config_dict, preset

ALGOS = sorted(ALGORITHMS)

# Errors that are the user's input, reported as one line and exit status 2.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError)


def explicit_overrides(argv: list[str]) -> set[str]:
    """Names of the `--config.<field>` flags given on the command line."""
    names = set()
    for arg in argv:
        if arg.startswith("--config."):
            names.add(arg[len("--config."):].split("=", 1)[0].split(".")[0])
    return names


def build_config(
    env: str, config_dict, argv: list[str], algo: str = "gem", **fields
) -> GEMConfig:
    """Suite preset of `env`, then the algorithm's preset, then explicit `--config.`
    overrides, then the named flags (`--steps`, `--seed`, ...)."""
    from gem_jax.data import resolve_name

    suite = resolve_name(env).suite
    base = algorithm(algo, preset(suite))
    given = from_config_dict(config_dict)
    overrides = {name: getattr(given, name) for name in explicit_overrides(argv)}
    overrides.update({k: v for k, v in fields.items() if v is not None})
    config = base.replace(**overrides)
    return config.validate()


def run_cli(algo: str, env: str, config: GEMConfig, workdir: str, **kwargs) -> int:
    """Run training; user errors become one line on stderr and exit status 2."""
    from gem_jax import runner
    from gem_jax.checkpoint import CheckpointError

    try:
        summary = runner.train(env, config, workdir, algo=algo, **kwargs)
    except runner.DivergenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (*USER_ERRORS, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    score = summary["normalized_score"]
    print(f"{algo} on {env}: normalised score {score['mean']:.1f} ± {score['std']:.1f}, "
          f"SupportZ {summary['support_z']:.2f}, Violation {summary['violation']:.3f}, "
          f"CollapseDist {summary['collapse_dist']:.3f}, {summary['steps_per_s']:.0f} steps/s "
          f"(compile {summary['compile_s']:.1f} s) -> {workdir}/summary.json")
    return 0
