"""The senders whose APIs keep webhook subscriptions, each in its own module; what they share in :mod:`.common`."""
