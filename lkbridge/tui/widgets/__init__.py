"""The main screen's regions, top to bottom: meters, sparklines, sessions and detail, log."""
