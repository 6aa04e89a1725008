"""The HTTP API: a FastAPI app over one store (``create_app``); see docs/api.md."""

from civicledger.api.app import create_app

__all__ = ["create_app"]
