"""Playback: a URL fetched under the playback URL policy, decoded, and played into a track."""
