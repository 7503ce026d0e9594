"""HTTP serving: FastAPI app factory, settings, the generator protocol it serves."""

from sqltune.serve.app import ApiError, ServeSettings, SqlGenerator, create_app, serve

__all__ = ["ApiError", "ServeSettings", "SqlGenerator", "create_app", "serve"]
