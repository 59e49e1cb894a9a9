"""The market maker's day: order flow, venue health probes, the planted episodes, the risk setup."""
