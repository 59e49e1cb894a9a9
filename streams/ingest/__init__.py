"""Files and feeds into input topics: the producer, backfills, file readers."""
