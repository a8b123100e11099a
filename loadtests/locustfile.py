"""The bridge's locust scenarios for `locust -f loadtests/locustfile.py`: the code lives in the
package (lkbridge/loadtest/scenarios.py), so an installed `lkbridge[load]` runs the same
scenarios through `lkbridge loadtest`, which also starts the devices the users listen to.

    pip install -c constraints.txt -e '.[load]'
    locust -f loadtests/locustfile.py --host 127.0.0.1:9090 --livekit-url ws://... \\
        --livekit-key K --rooms 4 --room-prefix load  # secret: LKBRIDGE_LOADTEST_LIVEKIT_SECRET

Run `python -m lkbridge.loadtest.devices --help` for the speaking devices such a run needs.
"""

from lkbridge.loadtest.scenarios import BridgeUser, ConfiguredShape

__all__ = ["BridgeUser", "ConfiguredShape"]
