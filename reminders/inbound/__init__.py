"""Inbound: where a reminder is acknowledged. Button presses, replies and commands from any
platform, recorded as acknowledgements, answers, snoozes, bindings and invites."""
