"""The web app (Starlette): webhooks, calendar feeds, the board, /healthz and /metrics.

`uvicorn --factory reminders.web.app:create_app_from_env` runs it; the shorter
`reminders.web:create_app_from_env` of earlier versions still works."""

from reminders.web.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
