"""One side of a comparison in a fresh Python process of its own, as its users run it: no
process-wide state of one side (raydd's malloc setting, caches, compiled graphs) reaches the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from raydd.core.allocator import ENVIRONMENT as ALLOCATOR_ENVIRONMENT


def json_of_fresh_process(script_args: list[str], what: str, *, raydd_malloc: bool = False):
    """Run `python *script_args` and return the JSON it prints last; `raydd_malloc` starts it with
    raydd's allocator setting (for the original code: what is left is the code). RuntimeError
    naming `what`, with the stderr tail, when it fails."""
    env = dict(os.environ, **(ALLOCATOR_ENVIRONMENT if raydd_malloc else {}))
    done = subprocess.run([sys.executable, *script_args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
