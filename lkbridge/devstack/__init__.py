"""The local stack the tests, benchmarks, load tests and `lkbridge dev` all share.

A real livekit-server with a generated config, the private network namespace it needs on these
machines, token minting, the simulated device participant (the glasses' role), and the lab's one
bridge launcher (bridge.py), packet stamp codec (stamp.py) and WAV writer (wav_sink.py).
"""
