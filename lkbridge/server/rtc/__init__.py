"""The adapter to the LiveKit SDK (livekit.rtc), below both audio paths of a room: its
process-wide runtime corrections (runtime.py), the published output tracks every path to the
room ends in (tracks.py), and the readers of remote audio tracks (remote_audio.py) that the room
-> client path and the simulated device share. It imports nothing of the server."""
