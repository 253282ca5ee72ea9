"""Run-directory logs and the learning-curve plot.

* `MetricsLog`: lists and dicts (`per_seed`) go to the JSONL only, the CSV keeps its scalar
  columns, and a resume's truncation keeps both;
* `learning_curve.png`: a panel per loss with plain tick labels (no "×10^k", no offset),
  each seed a thin line and their mean a thick one, axes labelled with units.
"""

import csv
import json

import numpy as np
import pytest

from gem_jax.harness.runlog import MetricsLog, learning_curve_figure, plot_learning_curve


def rows(num_seeds: int = 3):
    """Train rows whose critic loss spans 3 decades, value loss one, NLL crosses zero."""
    train, evals = [], []
    for i, step in enumerate(range(100, 2001, 100)):
        seeds = np.arange(num_seeds)
        per = {"critic/loss": (200.0 * 0.7 ** i + 0.1) * (1 + 0.1 * seeds),
               "value/loss": 0.05 + 0.001 * i + 0.01 * seeds,
               "actor/loss": 3.0 + 0.2 * i + 0.1 * seeds,
               "behavior/nll": 1.5 - 0.15 * i + 0.05 * seeds}
        train.append({"step": step, **{k: float(v.mean()) for k, v in per.items()},
                      "per_seed": {k: v.tolist() for k, v in per.items()}})
    for step in (500, 1000, 1500, 2000):
        scores = np.array([20.0, 40.0, 60.0][:num_seeds]) + step / 100
        evals.append({"step": step, "normalized_score": float(scores.mean()),
                      "normalized_score_seed_std": float(scores.std()),
                      "per_seed": {"normalized_score": scores.tolist()}})
    return train, evals


def test_per_seed_goes_to_the_jsonl_only_and_survives_truncation(tmp_path):
    log = MetricsLog(tmp_path, "metrics")
    for step in (10, 20, 30):
        log.write({"loss": step / 10, "step": step, "per_seed": {"loss": [step, -step]}})
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert header == "loss,step"
    log.truncate_after(20)
    with open(tmp_path / "metrics.csv") as f:
        assert list(csv.DictReader(f)) == [{"loss": "1.0", "step": "10"},
                                           {"loss": "2.0", "step": "20"}]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["per_seed"] for ln in lines] == [{"loss": [10, -10]},
                                                           {"loss": [20, -20]}]


def tick_texts(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def test_learning_curve_has_one_readable_panel_per_loss():
    train, evals = rows()
    fig = learning_curve_figure(train, evals, "gem on nav2d")
    fig.canvas.draw()
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert list(axes) == ["normalised score", "critic loss", "value loss", "actor loss",
                          "behavior NLL"]
    for title, ax in axes.items():
        labels = tick_texts(ax.yaxis) + tick_texts(ax.xaxis)
        assert labels, title
        for text in labels:  # plain numbers: no mathtext, no ×10^k, no offset text
            assert "$" not in text and "×" not in text and "10^" not in text, (title, text)
        assert ax.yaxis.get_offset_text().get_text() == ""
        assert ax.get_ylabel()
    # the critic loss spans 3 decades: a log axis labelled 1, 10, 100
    critic = axes["critic loss"]
    assert critic.get_yscale() == "log"
    assert {"1", "10", "100"} <= set(tick_texts(critic.yaxis))
    assert axes["value loss"].get_yscale() == "linear"  # one decade: linear, plain
    assert axes["behavior NLL"].get_ylabel().startswith("nats")
    assert "2k" in tick_texts(axes["behavior NLL"].xaxis)  # steps as 500, 1k, 2k
    assert [axes[t].get_xlabel() for t in ("value loss", "actor loss", "behavior NLL")] == [
        "gradient steps"] * 3  # the bottom of each column (the grid's sixth cell is empty)
    assert axes["critic loss"].get_xlabel() == ""
    assert axes["normalised score"].get_xlim() == critic.get_xlim()  # one step range for all
    # three thin seed lines and one thick mean in every panel, equal to the rows' numbers
    for title, key in (("critic loss", "critic/loss"), ("normalised score", "normalized_score")):
        lines = axes[title].get_lines()
        thin = [ln for ln in lines if ln.get_linewidth() < 1]
        thick = [ln for ln in lines if ln.get_linewidth() > 2]
        assert len(thin) == 3 and len(thick) == 1, title
        source = train if key == "critic/loss" else evals
        np.testing.assert_allclose(thick[0].get_ydata(), [r[key] for r in source])
        np.testing.assert_allclose(thin[2].get_ydata(),
                                   [r["per_seed"][key][2] for r in source])
    legend = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legend) == 1
    assert [t.get_text() for t in legend[0].get_texts()] == ["each seed", "mean of 3 seeds"]


def test_every_loss_in_the_metrics_gets_a_panel():
    train, evals = rows()
    train = [{**r, "aux/loss": 0.5} for r in r_without(train, "actor/loss")]
    fig = learning_curve_figure(train, evals, "t")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["normalised score", "critic loss", "value loss", "behavior NLL",
                      "aux loss"]
    assert fig.axes[4].get_lines()[-1].get_ydata().tolist() == [0.5] * 20


def r_without(train: list[dict], key: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k != key} for r in train]


def test_one_seed_or_old_logs_draw_the_mean_alone(tmp_path):
    train, evals = rows(num_seeds=1)
    fig = learning_curve_figure(train, evals, "one seed")
    assert [ln.get_linewidth() > 2 for ln in fig.axes[1].get_lines()] == [True]
    old = [{k: v for k, v in r.items() if k != "per_seed"} for r in train]  # before per_seed
    plot_learning_curve(old, [], tmp_path / "curve.png", "old run")
    assert (tmp_path / "curve.png").stat().st_size > 10_000


@pytest.mark.parametrize("values, scale", [([0.5, 2.0], "linear"), ([-1.0, 3.0], "linear"),
                                           ([0.01, 5.0], "log")])
def test_log_axis_only_for_positive_values_over_two_decades(values, scale):
    from gem_jax.harness.runlog import _pyplot, _readable_y

    fig, ax = _pyplot().subplots()
    ax.plot([0, 1], values)
    _readable_y(ax, values)
    assert ax.get_yscale() == scale
    _pyplot().close(fig)


def test_write_report_writes_json_and_markdown(tmp_path):
    from gem_jax.harness.runlog import write_report

    text = write_report(tmp_path / "probe", {"gain": np.float32(0.5)}, ["# probe", "| a |"])
    assert text == "# probe\n| a |\n"
    assert (tmp_path / "probe.md").read_text() == text
    assert json.loads((tmp_path / "probe.json").read_text()) == {"gain": 0.5}


def test_result_json_names_no_machine_path(tmp_path, monkeypatch):
    """Committed result files say `~/gem-runs/x` and `runs/x`, never this machine's layout."""
    from gem_jax.harness.runlog import portable, write_json, write_report

    home, work = tmp_path / "home", tmp_path / "home" / "repo"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    payload = {"workdir": f"{home}/gem-runs/antmaze/gem", "rows": [{"out": f"{work}/runs/a"}],
               "command": f"python {work}/benchmarks/b.py --json={work}/r.json", "n": 3,
               "other": "/opt/data/x"}
    want = {"workdir": "~/gem-runs/antmaze/gem", "rows": [{"out": "runs/a"}],
            "command": "python benchmarks/b.py --json=r.json", "n": 3, "other": "/opt/data/x"}
    assert portable(payload) == want
    write_json(tmp_path / "r.json", payload)
    assert json.loads((tmp_path / "r.json").read_text()) == want
    text = write_report(tmp_path / "d", payload, [f"# Diagnose {home}/gem-runs/antmaze/gem"])
    assert text == (tmp_path / "d.md").read_text() == "# Diagnose ~/gem-runs/antmaze/gem\n"
