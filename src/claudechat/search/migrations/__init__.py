"""The search index's schema: numbered migrations, applied as the store applies its own
(`claudechat.store.migrations`), recorded in the ``search_migrations`` table."""
