"""``python -m gateway``: the same as ``mercado api`` (the demo starts it this way)."""

import typer

from gateway.cli import api

if __name__ == "__main__":
    typer.run(api)
