"""gem_jax/analysis/targets.py: the issues' targets against seed noise, by hand."""


from gem_jax.analysis import targets


def row(env, algo, score, std, **kw):
    return {"env": env, "algo": algo, "normalized_score": score, "normalized_score_std": std, **kw}


ROWS = [row("a", "gem", 80.0, 5.0, curve="argmax"), row("a", "iql", 70.0, 4.0),
        row("b", "gem", 60.0, 2.0, curve="top 25% sample"), row("b", "iql", 63.0, 6.0),
        row("c", "gem", 10.0, 1.0), row("c", "iql", 20.0, 3.0), row("d", "iql", 1.0, 1.0)]


def test_versus_calls_a_gap_inside_the_larger_std_a_tie():
    got = {v["env"]: (v["gap"], v["noise"], v["verdict"]) for v in targets.versus(ROWS, "iql")}
    assert got == {"a": (10.0, 5.0, "ahead"), "b": (-3.0, 6.0, "tie"),
                   "c": (-10.0, 3.0, "behind")}  # d has no GEM row


def test_n_monotone_finds_the_worst_drop_on_the_chosen_curve_only():
    sweep = [row("a", "gem", s, sd, curve="argmax", num_candidates=n)
             for n, s, sd in ((0, 99.0, 0.0), (1, 70.0, 2.0), (16, 80.0, 2.0), (1024, 72.0, 3.0))]
    sweep += [row("a", "gem", 0.0, 0.0, curve="top 25% sample", num_candidates=64)]  # other rule
    (m,) = targets.n_monotone(ROWS, sweep)  # b has no sweep rows; N = 0 is not on the curve
    assert (m["budgets"], m["from_n"], m["to_n"]) == ([1, 16, 1024], 16, 1024)
    assert (m["drop"], m["noise"], m["holds"]) == (8.0, 3.0, False)
    flat = [dict(r, normalized_score_std=10.0) for r in sweep]
    assert targets.n_monotone(ROWS, flat)[0]["holds"]


def test_no_pw_and_the_summary():
    ablations = [{"env": "a", "variant": "no_pw", "delta_score": -25.0,
                  "violation_ratio_vs_gem": 6.0},
                 {"env": "a", "variant": "no_lcb", "delta_score": 1.0,
                  "violation_ratio_vs_gem": 1.0}]
    assert targets.no_pw(ablations) == [{"env": "a", "delta_score": -25.0,
                                         "violation_ratio": 6.0}]
    text = "\n".join(targets.summary_lines(ROWS, [], ablations))
    assert "* a: GEM − iql +10.0 against seed noise 5.0: **ahead**" in text
    assert "* a: no_pw -25.0 vs GEM, Violation 6.0x GEM's" in text
    assert targets.summary_lines([row("a", "iql", 1.0, 0.0)], [], []) == []


def test_versus_sets_no_validation_row_against_a_test_row():
    """A variant tuned on validation episodes alone is not a baseline of test-scored GEM."""
    rows = [row("a", "gem", 80.0, 5.0), row("a", "gem-e2", 50.0, 1.0, split="validation"),
            row("b", "gem", 80.0, 5.0, split="validation"),
            row("b", "gem-e2", 50.0, 1.0, split="validation")]
    assert targets.versus(rows, "gem-e2") == [
        {"env": "b", "baseline": "gem-e2", "gap": 30.0, "noise": 5.0, "verdict": "ahead"}]
