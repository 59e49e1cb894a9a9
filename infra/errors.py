"""Failures of the local infrastructure, each with a one-sentence message meant for the user."""

from __future__ import annotations


class InfraError(RuntimeError):
    """A local service could not be provided; ``str(error)`` is the message to print."""


class MissingDependency(InfraError):
    """A program the local services need (Java, Maven, PostgreSQL) is not installed."""


class ServiceFailed(InfraError):
    """A service did not start, did not become reachable in time, or did not stop."""
