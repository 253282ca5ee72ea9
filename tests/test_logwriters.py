"""`--log_to`: TensorBoard event files and W&B runs carry the numbers of the CSV logs.

* a tiny `train.py --log_to=tensorboard` run (two seeds): every CSV scalar reads back from
  the event file at its step, each seed's evaluation too, and the config as hyperparameters;
* W&B through a fake `wandb` module (monkeypatched into `sys.modules`): offline unless
  `WANDB_MODE` is set, the run id kept for resume (a compare run's scalars equal its
  CSV: test_compare);
* a missing package is one line naming the extra to install.
"""

import csv
import json
import pathlib
import struct
import subprocess
import sys

import pytest

from gem_jax.harness import logwriters

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = [
    "--steps=60", "--eval_every=30", "--eval_episodes=2", "--checkpoint_every=60",
    "--config.steps_per_call=15", "--config.log_every=15", "--config.hidden_dims=(16,16)",
    "--config.num_critics=2", "--config.num_components=2", "--config.behavior_num_components=2",
    "--config.num_candidates=4", "--config.batch_size=64", "--noprogress",
]


def read_csv(path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def read_events(logdir, files=None) -> list:
    """Every `Event` of the TFRecord event files under `logdir` (or of `files`),
    checksums verified."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    events = []
    for path in files or sorted(pathlib.Path(logdir).glob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i < len(data):
            header = data[i:i + 8]
            (length,) = struct.unpack("Q", header)
            assert struct.unpack("I", data[i + 8:i + 12])[0] == masked_crc32c(header)
            body = data[i + 12:i + 12 + length]
            assert struct.unpack("I", data[i + 12 + length:i + 16 + length])[0] == \
                masked_crc32c(body)
            events.append(Event.FromString(body))
            i += 16 + length
    return events


def scalars_of(events) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("simple_value"):
                out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


@pytest.fixture(scope="module")
def tb_run(tiny_nav2d, tmp_path_factory):
    pytest.importorskip("tensorboardX")
    workdir = tmp_path_factory.mktemp("tb") / "run"
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "train.py"), f"--workdir={workdir}",
         "--num_seeds=2", "--log_to=tensorboard", *TINY],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return workdir


def test_tensorboard_scalars_equal_the_csv(tb_run):
    events = read_events(tb_run / "tensorboard")
    scalars = scalars_of(events)
    train = read_csv(tb_run / "metrics.csv")
    assert [r["step"] for r in train] == [15, 30, 45, 60]
    columns = [c for c in train[0] if c != "step"]
    assert {"critic/loss", "value/loss", "behavior/nll", "steps_per_s"} <= set(columns)
    for name in columns:  # every metric of the CSV, at every logged step (float32 events)
        assert sorted(scalars[name]) == [15, 30, 45, 60], name
        for row in train:
            assert scalars[name][int(row["step"])] == pytest.approx(row[name], rel=1e-6,
                                                                   abs=1e-30), name
    evals = read_csv(tb_run / "eval.csv")
    assert [r["step"] for r in evals] == [30, 60]
    for row in evals:
        for name in (c for c in row if c != "step"):
            assert scalars[f"eval/{name}"][int(row["step"])] == pytest.approx(row[name], rel=1e-6)
    per_seed = [json.loads(ln)["per_seed"] for ln in (tb_run / "eval.jsonl").open()]
    for row, seeds in zip(evals, per_seed):  # each seed's results and audits
        for name in ("normalized_score", "support_z", "violation", "collapse_dist"):
            logged = [scalars[f"eval/seed_{s}/{name}"][int(row["step"])] for s in (0, 1)]
            assert logged == pytest.approx(seeds[name], rel=1e-6)
            assert sum(seeds[name]) / 2 == pytest.approx(row[name], rel=1e-9)
    summary = json.loads((tb_run / "summary.json").read_text())
    assert scalars["final/steps_per_s"][60] == pytest.approx(summary["steps_per_s"], rel=1e-6)


def test_tensorboard_has_the_config_as_hyperparameters(tb_run):
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    events = read_events(tb_run / "tensorboard")
    plugin = {v.tag: HParamsPluginData.FromString(v.metadata.plugin_data.content)
              for e in events for v in e.summary.value if v.tag.startswith("_hparams_/")}
    assert set(plugin) == {"_hparams_/experiment", "_hparams_/session_start_info",
                           "_hparams_/session_end_info"}
    hparams = plugin["_hparams_/session_start_info"].session_start_info.hparams
    config = json.loads((tb_run / "config.json").read_text())["config"]
    assert hparams["lcb_lambda"].number_value == config["lcb_lambda"]
    assert hparams["num_candidates"].number_value == 4
    assert hparams["hidden_dims"].string_value == "(16, 16)"
    assert hparams["env"].string_value == "nav2d" and hparams["algo"].string_value == "gem"
    metrics = [m.name.tag for m in plugin["_hparams_/experiment"].experiment.metric_infos]
    assert "eval/normalized_score" in metrics


def test_tensorboard_resume_purges_the_steps_it_redoes(tmp_path):
    pytest.importorskip("tensorboardX")
    first = logwriters.TensorBoardWriter(tmp_path)
    for step in (10, 20, 30):
        first.scalars({"loss": float(step)}, step)
    first.close()
    again = logwriters.TensorBoardWriter(tmp_path, purge_step=21)  # resumed from step 20
    again.scalars({"loss": 99.0}, 30)
    again.close()
    files = sorted(tmp_path.glob("events.out.tfevents.*"), key=lambda f: f.stat().st_mtime_ns)
    assert len(files) == 2
    assert scalars_of(read_events(None, files[:1]))["loss"] == {10: 10.0, 20: 20.0, 30: 30.0}
    second = read_events(None, files[1:])
    # the markers by which TensorBoard drops the first file's events from step 21 on
    assert second[0].step == 0 and second[0].file_version == "brain.Event:2"  # file header
    assert second[1].step == 21 and second[1].file_version == "brain.Event:2"
    assert second[2].step == 21 and second[2].session_log.status == 1  # START
    assert scalars_of(second)["loss"] == {30: 99.0}


def test_parse_log_to():
    assert logwriters.parse_log_to(None) == ("csv",)
    assert logwriters.parse_log_to(["csv"]) == ("csv",)
    assert logwriters.parse_log_to("") == ("csv",)
    with pytest.raises(ValueError, match="unknown target.*tensorbord.*csv, tensorboard, wandb"):
        logwriters.parse_log_to("csv,tensorbord")


@pytest.mark.parametrize("target, module", [("wandb", "wandb"), ("tensorboard", "tensorboardX")])
def test_missing_package_is_one_line_naming_the_extra(monkeypatch, target, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    with pytest.raises(logwriters.MissingExtraError) as err:
        logwriters.parse_log_to(["csv", target])
    assert str(err.value) == (f'--log_to={target} needs the {module} package: '
                              f'pip install -e ".[{target}]"')


@pytest.mark.skipif(__import__("importlib").util.find_spec("wandb") is not None,
                    reason="wandb is installed here")
def test_cli_without_wandb_fails_in_one_line_before_training(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "train.py"), f"--workdir={tmp_path / 'r'}",
         "--log_to=csv,wandb", "--steps=10", "--noprogress"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        'error: --log_to=wandb needs the wandb package: pip install -e ".[wandb]"']
    assert not (tmp_path / "r").exists()  # nothing written


def test_wandb_writer_is_offline_by_default_and_keeps_its_run_id(fake_wandb, tmp_path,
                                                                 monkeypatch):
    with logwriters.open_writers(["csv", "wandb"], tmp_path, name="gem nav2d run") as w:
        w.hparams({"lcb_lambda": 1.0, "hidden_dims": (16, 16), "nested": {"a": 1}})
        w.scalars({"critic/loss": 0.5, "steps_per_s": 10, "per_seed": [1.0]}, 15)
    run = fake_wandb.runs[0]
    run_id = (tmp_path / logwriters.WANDB_ID_FILE).read_text().strip()
    assert run.init == dict(project="gem-jax", name="gem nav2d run", group=None,
                            dir=str(tmp_path), id=run_id, resume="allow", mode="offline")
    assert run.calls == [
        ("config", {"lcb_lambda": 1.0, "hidden_dims": "(16, 16)", "nested.a": 1}),
        ("log", {"critic/loss": 0.5, "steps_per_s": 10.0}, 15),  # numbers only
        ("finish",),
    ]
    monkeypatch.setenv("WANDB_MODE", "online")  # the user's choice wins
    monkeypatch.setenv("WANDB_PROJECT", "mine")
    logwriters.open_writers(["wandb"], tmp_path, name="again", start_step=15).close()
    resumed = fake_wandb.runs[1].init
    assert resumed["mode"] == "online" and resumed["project"] == "mine"
    assert resumed["id"] == run_id  # resume continues the same W&B run
    logwriters.open_writers(["wandb"], tmp_path, name="fresh").close()
    assert fake_wandb.runs[2].init["id"] != run_id  # a fresh run gets a fresh id
