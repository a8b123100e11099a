"""Pure PCM helpers: no I/O, no asyncio, nothing of gRPC or LiveKit.

Everything that touches samples lives here so it can be unit-tested in isolation and shared by
the server, the client tools, the device simulator and the benchmarks.
"""

# The rate of every track the bridge publishes and of the audio it sends back: 16 kHz mono PCM16,
# as the glasses send. Here, in a module that imports nothing, so the light client side has it.
ROOM_RATE = 16000
