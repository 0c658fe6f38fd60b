"""emotion layer of the stream emotion service."""
