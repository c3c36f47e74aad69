"""Read models for people: status, tallies, reports, calendar feeds, the board, metrics.
They read the store and the definitions and change nothing."""
