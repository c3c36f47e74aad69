"""The delivery side: where a reminder is sent. Rendering, the dramatiq send actor and its
batches, platform rate limits, the broker, and the worker entry points."""
