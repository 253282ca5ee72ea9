"""Export one seed's GEM policy of a trained run as a `jax.export` artifact.

    python experiments/export_policy.py --workdir=runs/antmaze --out=antmaze_policy.bin \
        --batch_size=1 --seed_index=0

Writes `<out>` (serialised `jax.export.Exported`, parameters embedded) and `<out>.json`
(its calling convention). A program with only `jax` installed runs it:

    exported = jax.export.deserialize(bytearray(open("antmaze_policy.bin", "rb").read()))
    actions = exported.call(observations, jax.random.PRNGKey(0))  # env actions [B, A]
"""

from __future__ import annotations

import os

from absl import app, flags

from gem_jax.harness.cli import absl_main

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory written by experiments/train.py.")
flags.DEFINE_string("out", None, "Artifact path (default: <workdir>/policy_seed<i>.bin).")
flags.DEFINE_integer("batch_size", 1, "Observations per call; 0 = any batch size (symbolic).")
flags.DEFINE_integer("seed_index", 0, "Which seed of a multi-seed run.")
flags.DEFINE_integer("num_candidates", None, "N (default: the run's config).")
flags.DEFINE_integer("top_k", None, "k (default: the run's config).")
flags.DEFINE_float("lcb_lambda", None, "lambda of the LCB (default: the run's config).")
flags.DEFINE_float("beta_start", None, "beta_0 (default: the run's config).")
flags.DEFINE_float("beta_end", None, "beta_end (default: the run's config).")
flags.DEFINE_bool("with_time", False, "Add an int32 [B] episode-step argument t (else t = 0).")
flags.DEFINE_list("platforms", ["cpu", "cuda"], "Backends the artifact can run on.")
flags.mark_flag_as_required("workdir")


def body() -> int:
    from gem_jax.harness.export import export_policy

    out = FLAGS.out or os.path.join(FLAGS.workdir, f"policy_seed{FLAGS.seed_index}.bin")
    knobs = {name: getattr(FLAGS, name) for name in ("top_k", "lcb_lambda", "beta_start",
                                                      "beta_end")}
    exported = export_policy(
        FLAGS.workdir, out, FLAGS.batch_size or None, FLAGS.num_candidates,
        seed_index=FLAGS.seed_index, with_time=FLAGS.with_time,
        platforms=tuple(FLAGS.platforms),
        **{k: v for k, v in knobs.items() if v is not None},
    )
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB): call(" +
          ", ".join(str(a) for a in exported.in_avals) + f") -> {exported.out_avals[0]}; "
          f"platforms {list(exported.platforms)}; convention in {out}.json")
    return 0


main = absl_main(body)

if __name__ == "__main__":
    app.run(main)
