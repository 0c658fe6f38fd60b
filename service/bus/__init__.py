"""bus layer of the stream emotion service."""
