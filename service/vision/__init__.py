"""vision layer of the stream emotion service."""
