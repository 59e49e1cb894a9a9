"""``mercado api``: the HTTP API (FastAPI on uvicorn, ``/api/v1``) and WebSocket push over every pipeline.

Reads go to the sink's tables and views (the SQL lives next to the concept it reads: ``queries/`` for
what a command already shows, the route modules here for the rest); the push channel reads the derived
topics with one read_committed consumer per process. Layered above ``queries``: nothing imports it.
"""
