"""The ``/api/v1`` routers, one module per pipeline and one for the system endpoints."""
