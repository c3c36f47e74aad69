"""`python -m reminders.cli` runs the command line (tests and benchmarks use it)."""

from reminders.cli import main

main()
