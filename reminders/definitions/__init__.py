"""Definitions: what the admins keep in `calendars/` -- duties (.ics) and the roster (YAML) --
read, validated with file:line, expanded into occurrences, and kept (snapshot, hot reload).

Nothing here knows about the database schedule, chats or the web: it imports only the
domain modules and the store below it."""
