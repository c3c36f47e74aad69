"""The web app (Starlette): webhooks, calendar feeds, the board, /healthz and /metrics."""
