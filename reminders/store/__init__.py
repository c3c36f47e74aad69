"""The store: the database that is the source of truth -- tables, engine, migrations, and the
small data-access helpers every layer above shares (bindings, audit trail, tokens)."""
