"""`lkbridge tui`: a live dashboard of one bridge, fed by the admin service's WatchStats."""
