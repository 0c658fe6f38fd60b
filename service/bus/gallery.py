"""Characters in Redis: the gallery of named people, discovered characters, their embeddings and thumbnails.

Torch-free and shared by the API (enrol, rename, merge, delete) and the worker (discover, add exemplars,
reload the gallery when its version moves). Embeddings are biometric data: they are stored only under
``character:{id}:embeddings``, deleted with the character, and never logged.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import redis
from PIL import Image

from service.bus.keys import Keys
from service.identity.characters import new_character_id

MAX_EMBEDDINGS = 32  # per character: enrolment faces plus exemplars learned in streams
ENROLLED = "enrolled"


@dataclass(frozen=True, slots=True)
class StoredCharacter:
    character_id: str
    name: str | None  # None: discovered and not named yet
    origin: str  # "enrolled", or the stream id where it was discovered
    created_at: float
    embeddings: int

    @property
    def named(self) -> bool:
        return self.name is not None


class GalleryStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        """``client`` must return bytes (``decode_responses=False``): embeddings and JPEGs are binary."""
        self.client = client
        self.keys = keys

    # reads
    def version(self) -> int:
        return int(self.client.get(self.keys.gallery_version) or 0)

    def get(self, character_id: str) -> StoredCharacter | None:
        fields = self.client.hgetall(self.keys.character(character_id))
        if not fields:
            return None
        text = {k.decode(): v.decode() for k, v in fields.items()}
        return StoredCharacter(
            character_id,
            text.get("name") or None,
            text.get("origin", ENROLLED),
            float(text.get("created_at", 0)),
            int(self.client.llen(self.keys.character_embeddings(character_id))),
        )

    def gallery_ids(self) -> list[str]:
        return sorted(member.decode() for member in self.client.smembers(self.keys.gallery))

    def gallery(self) -> list[StoredCharacter]:
        return [c for c in map(self.get, self.gallery_ids()) if c is not None]

    def embeddings(self, character_id: str) -> list[np.ndarray]:
        raw = self.client.lrange(self.keys.character_embeddings(character_id), 0, -1)
        return [np.frombuffer(item, dtype=np.float32).copy() for item in raw]

    def thumbnail(self, character_id: str) -> bytes | None:
        return self.client.get(self.keys.character_thumbnail(character_id))

    # writes
    def create(
        self, name: str | None, origin: str, embeddings: Iterable[np.ndarray], character_id: str | None = None
    ) -> str:
        character_id = character_id or new_character_id()
        pipe = self.client.pipeline()
        pipe.hset(
            self.keys.character(character_id),
            mapping={"name": name or "", "origin": origin, "created_at": repr(time.time())},
        )
        vectors = [np.asarray(e, dtype=np.float32).tobytes() for e in embeddings]
        if vectors:
            pipe.rpush(self.keys.character_embeddings(character_id), *vectors)
            pipe.ltrim(self.keys.character_embeddings(character_id), -MAX_EMBEDDINGS, -1)
        if name:
            pipe.sadd(self.keys.gallery, character_id)
            pipe.incr(self.keys.gallery_version)
        pipe.execute()
        return character_id

    def add_embedding(self, character_id: str, embedding: np.ndarray) -> None:
        key = self.keys.character_embeddings(character_id)
        if not self.client.exists(self.keys.character(character_id)):
            return  # deleted meanwhile: its biometric data must not come back
        pipe = self.client.pipeline()
        pipe.rpush(key, np.asarray(embedding, dtype=np.float32).tobytes())
        pipe.ltrim(key, -MAX_EMBEDDINGS, -1)
        pipe.execute()

    def put_thumbnail(self, character_id: str, chip_rgb: np.ndarray) -> None:
        buffer = io.BytesIO()
        Image.fromarray(chip_rgb).save(buffer, format="JPEG", quality=85)
        self.client.set(self.keys.character_thumbnail(character_id), buffer.getvalue())

    def rename(self, character_id: str, name: str) -> None:
        """Names a character; a discovered one joins the gallery and is recognised in every stream from now."""
        pipe = self.client.pipeline()
        pipe.hset(self.keys.character(character_id), "name", name)
        pipe.sadd(self.keys.gallery, character_id)
        pipe.incr(self.keys.gallery_version)
        pipe.execute()

    def merge(self, source_id: str, target_id: str) -> None:
        """``source`` becomes part of ``target``: its embeddings move over, then it is deleted."""
        moved = self.client.lrange(self.keys.character_embeddings(source_id), 0, -1)
        if moved:
            key = self.keys.character_embeddings(target_id)
            self.client.rpush(key, *moved)
            self.client.ltrim(key, -MAX_EMBEDDINGS, -1)
        self.delete(source_id)

    def delete(self, character_id: str) -> None:
        pipe = self.client.pipeline()
        pipe.delete(
            self.keys.character(character_id),
            self.keys.character_embeddings(character_id),
            self.keys.character_thumbnail(character_id),
        )
        pipe.srem(self.keys.gallery, character_id)
        pipe.incr(self.keys.gallery_version)
        pipe.execute()

    # per stream
    def put_stream_summaries(self, stream_id: str, summaries: Iterable[dict]) -> None:
        mapping = {s["character_id"]: json.dumps(s) for s in summaries}
        if mapping:
            self.client.hset(self.keys.stream_characters(stream_id), mapping=mapping)

    def stream_summaries(self, stream_id: str) -> list[dict]:
        raw = self.client.hgetall(self.keys.stream_characters(stream_id))
        return sorted((json.loads(v) for v in raw.values()), key=lambda s: s["first_seen"])

    def drop_stream_summary(self, stream_id: str, character_id: str) -> None:
        self.client.hdel(self.keys.stream_characters(stream_id), character_id)

    def purge_stream(self, stream_id: str) -> None:
        """Deletes the stream's discovered, unnamed characters with their embeddings, and its summaries."""
        for summary in self.stream_summaries(stream_id):
            stored = self.get(summary["character_id"])
            if stored is not None and not stored.named and stored.origin == stream_id:
                self.delete(stored.character_id)
        self.client.delete(self.keys.stream_characters(stream_id), self.keys.stream_commands(stream_id))

    def push_command(self, stream_id: str, command: dict) -> None:
        self.client.rpush(self.keys.stream_commands(stream_id), json.dumps(command))

    def pop_commands(self, stream_id: str) -> list[dict]:
        pipe = self.client.pipeline()
        pipe.lrange(self.keys.stream_commands(stream_id), 0, -1)
        pipe.delete(self.keys.stream_commands(stream_id))
        raw, _ = pipe.execute()
        return [json.loads(item) for item in raw]
