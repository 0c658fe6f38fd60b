"""ingest layer of the stream emotion service."""
