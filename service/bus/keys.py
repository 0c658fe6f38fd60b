"""Names of every Redis key and channel the service uses, in one place (the contract between processes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "se"

    @property
    def streams(self) -> str:
        """Set of all registered stream ids."""
        return f"{self.prefix}:streams"

    def stream(self, stream_id: str) -> str:
        """Hash: the stream's spec, status, counters, latest stats."""
        return f"{self.prefix}:stream:{stream_id}"

    def events(self, stream_id: str) -> str:
        """Redis Stream: history of face, stats, status (and alert) messages, capped."""
        return f"{self.prefix}:stream:{stream_id}:events"

    def alerts(self, stream_id: str) -> str:
        """Redis Stream: alerts only, kept longer than events."""
        return f"{self.prefix}:stream:{stream_id}:alerts"

    def keyframe(self, stream_id: str) -> str:
        """String: a recent JPEG frame of the stream (the live preview, and the backdrop of spatial heatmaps)."""
        return f"{self.prefix}:stream:{stream_id}:keyframe"

    def keyframe_pts(self, stream_id: str) -> str:
        """String: the media time of that keyframe, to match it with its frame's face events."""
        return f"{self.prefix}:stream:{stream_id}:keyframe:pts"

    def alert_frames(self, stream_id: str) -> str:
        """Hash: alert history id -> JPEG of the frame that raised it, the subject boxed (the alert's evidence)."""
        return f"{self.prefix}:stream:{stream_id}:alert-frames"

    def channel(self, stream_id: str) -> str:
        """Pub/sub channel of live messages of one stream."""
        return f"{self.prefix}:live:{stream_id}"

    def lease(self, stream_id: str) -> str:
        """String held by the worker that analyses the stream (SET NX PX, renewed)."""
        return f"{self.prefix}:lease:{stream_id}"

    def worker(self, worker_id: str) -> str:
        """Heartbeat of one worker (expires when the worker stops renewing it)."""
        return f"{self.prefix}:worker:{worker_id}"

    def worker_pattern(self, host: str = "*") -> str:
        return f"{self.prefix}:worker:{host}*"

    # characters (biometric data: embeddings live only under character:{id}:embeddings)
    @property
    def gallery(self) -> str:
        """Set of named character ids: enrolled, or discovered and then named. Recognised in every stream."""
        return f"{self.prefix}:characters"

    @property
    def gallery_version(self) -> str:
        """Counter bumped on every gallery change; workers reload the gallery when it moves."""
        return f"{self.prefix}:characters:version"

    def character(self, character_id: str) -> str:
        """Hash: name, origin (``enrolled`` or the stream id where discovered), created_at."""
        return f"{self.prefix}:character:{character_id}"

    def character_embeddings(self, character_id: str) -> str:
        """List of float32 identity embeddings (128-d) of one character, capped."""
        return f"{self.prefix}:character:{character_id}:embeddings"

    def character_thumbnail(self, character_id: str) -> str:
        """String: a JPEG of one aligned face of the character."""
        return f"{self.prefix}:character:{character_id}:thumbnail"

    def stream_characters(self, stream_id: str) -> str:
        """Hash: character id -> JSON summary of its presence in the stream (written by the worker)."""
        return f"{self.prefix}:stream:{stream_id}:characters"

    def stream_commands(self, stream_id: str) -> str:
        """List: character changes (merge, exclude) for the worker that holds the stream to apply."""
        return f"{self.prefix}:stream:{stream_id}:commands"

    @property
    def enrol_requests(self) -> str:
        """List: enrolment jobs (images) for any worker to embed."""
        return f"{self.prefix}:enrol:requests"

    def enrol_reply(self, job_id: str) -> str:
        return f"{self.prefix}:enrol:reply:{job_id}"
