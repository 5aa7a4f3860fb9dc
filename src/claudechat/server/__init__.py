"""The claudechat service: an ASGI app (FastAPI) over the library's AsyncChat and stores.

    from claudechat.server import create_app, ServerSettings
    app = create_app(store=SQLiteStore("chats.db"), settings=ServerSettings())

``claudechat serve`` runs it under uvicorn. See the README's service section for the
routes, the server-sent events, authentication and the error shape.
"""

from .app import create_app
from .errors import ApiError
from .settings import ServerSettings
from .state import AuthCallable

__all__ = ["ApiError", "AuthCallable", "ServerSettings", "create_app"]
