"""One side of a comparison in a fresh Python process of its own, as its users run it: no
process-wide state of one side (raydd's malloc setting, caches, compiled graphs, the heap a data
pipeline leaves behind) reaches the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def json_of_fresh_process(script_args: list[str], what: str, *, env: dict[str, str] | None = None):
    """Run `python *script_args` (under `env`, else this process's environment) and return the
    JSON it prints last. RuntimeError naming `what`, with the stderr tail, when it fails."""
    done = subprocess.run([sys.executable, *script_args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def side_environment(*, threads: int | None = None, raydd_malloc: bool = False) -> dict[str, str]:
    """This process's environment for a side: `threads` through OMP_NUM_THREADS (as a user sets
    it), and with `raydd_malloc` raydd's malloc setting (for the original code under
    `--same-malloc`: what is left is the code)."""
    from raydd.core.allocator import ENVIRONMENT as RAYDD_MALLOC

    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    return dict(env, **RAYDD_MALLOC) if raydd_malloc else env
