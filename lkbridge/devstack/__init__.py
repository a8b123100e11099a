"""The local stack the tests, benchmarks, load tests and `lkbridge dev` all share.

A real livekit-server with a generated config, the private network namespace it needs on these
machines, token minting, and the simulated device participant (the glasses' role).
"""
