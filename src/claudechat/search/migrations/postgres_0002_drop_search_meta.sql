-- Before numbered migrations, a search_meta table held the schema version (1); the
-- search_migrations table records it now.

DROP TABLE IF EXISTS search_meta;
