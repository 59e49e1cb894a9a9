"""The stock scanner's day: its universe and its snapshots."""
