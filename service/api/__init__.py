"""api layer of the stream emotion service."""
