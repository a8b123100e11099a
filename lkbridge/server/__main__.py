"""`python -m lkbridge.server`: a worker behind a front, its config in LKBRIDGE_WORKER_CONFIG.

The front (`lkbridge serve --workers K`) starts K of these; to run a bridge yourself, use
`lkbridge serve`, which builds the config from its options and the environment.
"""

from __future__ import annotations

import os
import sys

from lkbridge.errors import ServeError
from lkbridge.server.front.workers import CONFIG_ENV, load_config
from lkbridge.server.logs import configure_logging
from lkbridge.server.runner import run_server


def main() -> int:
    if CONFIG_ENV not in os.environ:
        print(
            f"error: {CONFIG_ENV} is not set (run a bridge with `lkbridge serve`)", file=sys.stderr
        )
        return 2
    config = load_config()
    configure_logging(config.log_level, config.log_format)
    try:
        run_server(config)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
