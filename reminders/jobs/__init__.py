"""dramatiq actors. `python -m dramatiq reminders.jobs.worker` runs them at scale."""
