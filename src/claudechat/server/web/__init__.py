"""The web chat: a static page and small ES modules, served by the service at ``/``.

Everything the browser runs ships in ``static/`` (no third-party JavaScript, no CDN);
model and user text reach the page only as HTML sanitised on the server (server/render.py).
"""

from __future__ import annotations

from .routes import install_web

__all__ = ["install_web"]
