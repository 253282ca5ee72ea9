"""Test helper (not a test): run an `experiments/` script and SIGKILL this process in
the middle of the checkpoint write of step `$GEM_JAX_KILL_AT_STEP`.

Orbax writes a checkpoint into `<step>.orbax-checkpoint-tmp` and renames it to `<step>`
once everything is on disk; the patched rename kills the process right before that
rename, the worst moment for a crash: all the data is written but nothing is committed.

    python tests/kill_driver.py experiments/train.py --workdir=... --steps=...
"""

import os
import runpy
import signal
import sys

from orbax.checkpoint._src.path import async_path

KILL_AT = os.environ["GEM_JAX_KILL_AT_STEP"]
_rename = async_path.rename


async def rename(src, dst):
    if os.path.basename(str(dst)) == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    return await _rename(src, dst)


async_path.rename = rename
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
