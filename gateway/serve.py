"""The app object for ``uvicorn gateway.serve:app`` (several worker processes: each builds its own)."""

from gateway.app import create_app
from gateway.settings import get_gateway_settings

app = create_app(get_gateway_settings())
