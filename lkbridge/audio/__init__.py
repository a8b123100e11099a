"""Pure PCM helpers: no I/O, no asyncio, nothing of gRPC or LiveKit.

Everything that touches samples lives here so it can be unit-tested in isolation and shared by
the server, the client tools, the device simulator and the benchmarks.
"""
