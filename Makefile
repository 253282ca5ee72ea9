# The two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv and installs the project on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# 2*10^4 steps: the nav2d preset's critic settles by 1.5-2*10^4 steps; our six committed
# seeds score 203-285 there, tests/test_demo.py (slow) checks three clear 150. About 4 min
# of CPU time in all, ~3 min on 2 cores; experiments/demo_report.py explains the score.
demo: $(STAMP)
	rm -rf runs/demo
	$(PY) experiments/train.py --env=nav2d --workdir=runs/demo --steps=20000 \
		--eval_every=5000 --eval_episodes=10 --checkpoint_every=5000 \
		--config.hidden_dims="(128,128)" --config.num_candidates=64 --config.log_every=1000
	$(PY) experiments/demo_report.py --workdir=runs/demo

# Two workers, one test file each at a time (module fixtures stay in one process): many
# tests wait on single-threaded XLA compiles (2 cores, with the shared compilation cache of
# tests/conftest.py, and init_state compiled as one program: 10.8 min on a fresh clone on a
# 2-core Xeon, 16 min on a 2-core AMD EPYC, 2026-12-02).
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(PY) -m ruff check gem_jax experiments benchmarks tests tools

# Benchmarks are modules of the `benchmarks` package, run from the repository root.
bench: $(STAMP)
	$(PY) -m benchmarks.select_latency --json=benchmarks/results/select_latency_cpu.json
	$(PY) -m benchmarks.train_throughput --json=benchmarks/results/train_throughput_cpu.json

# The prepared GPU run (benchmarks/RESULTS.md, "The prepared GPU run"): a fresh copy on the
# GPU machine, its own python3 (no venv); the dry run is the same at tiny sizes, anywhere.
.PHONY: bench-gpu bench-gpu-dry bench-gpu-data bench-gpu-collect
FROM ?= runs/bench-gpu

bench-gpu:
	bash benchmarks/gpu_suite.sh

bench-gpu-dry:
	GEM_PYTHON=$(if $(wildcard $(PY)),$(PY),python3) bash benchmarks/gpu_suite.sh --dry

bench-gpu-data: $(STAMP)
	$(PY) -m benchmarks.gpu_data --dataset=maze2d-medium --out=benchmarks/data/maze2d-medium.npz

bench-gpu-collect: $(STAMP)
	$(PY) -m benchmarks.gpu_collect --from=$(FROM)

clean:
	rm -rf $(VENV) runs
