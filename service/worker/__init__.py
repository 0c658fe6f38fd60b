"""worker layer of the stream emotion service."""
