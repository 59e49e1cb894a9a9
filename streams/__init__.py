"""The Kafka side of Mercado: catalog, serde, producers, consumers, the worker and replay runtimes, the CLI."""
