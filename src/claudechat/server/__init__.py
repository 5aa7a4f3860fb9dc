"""The multi-user chat service (``claudechat serve``)."""
