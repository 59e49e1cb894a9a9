"""Broker plumbing: client configs, consuming and dead letters, topic admin, the topic catalog."""
