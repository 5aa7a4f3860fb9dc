"""Conversation stores: memory, SQLite (default), PostgreSQL."""
