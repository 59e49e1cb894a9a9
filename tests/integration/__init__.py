"""Tests on the real Kafka broker and PostgreSQL started by infra/."""
