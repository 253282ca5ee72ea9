# Sourced by every queue here: stop on unset variables, run from the repository root, and
# define PY (the Python, $PYTHON or the project's .venv), RUNS (the runs root, $GEM_RUNS or
# ~/gem-runs) and resume_flag (--resume only where a run has begun: a fresh run refuses it).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PYTHON:-.venv/bin/python}"
RUNS="${GEM_RUNS:-$HOME/gem-runs}"
resume_flag() { [ -d "$1/checkpoints" ] && echo --resume; }
