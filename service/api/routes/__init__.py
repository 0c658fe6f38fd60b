"""api/routes layer of the stream emotion service."""
