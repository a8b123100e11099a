"""The adapter to the LiveKit SDK (livekit.rtc): its process-wide runtime corrections and the
published output tracks every path to the room ends in."""
