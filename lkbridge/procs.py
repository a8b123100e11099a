"""Child processes that never outlive their parent: the SFU of the dev stack, bridge workers."""

from __future__ import annotations

import shutil
import sys


def die_with_parent() -> list[str]:
    """A command prefix that SIGKILLs the child when its parent thread dies (no orphans).

    util-linux's setpriv sets PR_SET_PDEATHSIG and execs: no Python runs between fork and exec
    (a preexec_fn in a process with the SDK's and gRPC's threads can crash the child). The
    signal follows the thread that started the child, so start it from a long-lived thread (the
    main one), not from a worker pool.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def python_module(module: str, *args: str) -> list[str]:
    """`python -P -m module args`: this interpreter running one of our modules, with nothing of
    the working directory on its sys.path. A plain `-m` puts the folder the user stands in first,
    and a folder named like the package there (the clone's parent folder holds `lkbridge/`)
    shadows the installed package: `ImportError: cannot import name ... (unknown location)`."""
    return [sys.executable, "-P", "-m", module, *args]
