"""Real local servers for the connector tests (127.0.0.1, free ports, stopped on teardown)."""
