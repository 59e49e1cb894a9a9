"""Read-only query commands over the tables the sink writes (`mercado opportunities`, `mercado risk`)."""
