"""The schedule: where a reminder is planned (planner, follow-ups) and claimed for sending
(dispatcher), and the scheduler loop that does both on every tick."""
