"""Which addresses and URLs the bridge may dial: the address rule, the LiveKit URL and the playback
URL policy. Below everything that dials, so config, playback and validation share one rule."""
