"""Characters: enrol people by name from photos, list and rename them, merge two, delete one, and correct a track.

Enrolment images are embedded by a worker (the API loads no face models): the API queues the job in Redis and
waits up to ``enrol_timeout_s`` for the answer. Every mutation needs the API key; every change bumps the
gallery version, and the workers apply it to their streams within a poll interval.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Annotated

import numpy as np
import redis
from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import GalleryDep, MutationDep, RedisDep, RegistryDep, SettingsDep, StreamDep
from service.bus.gallery import ENROLLED, GalleryStore, StoredCharacter
from service.config import Settings
from service.schemas import CHARACTER_ID, ErrorBody, StreamCharacter

router = APIRouter(tags=["characters"])
_NAME = Field(..., min_length=1, max_length=100, description="the person's name as producers should see it")


class CharacterInfo(BaseModel):
    id: str
    name: str | None = Field(None, description="null for a discovered character nobody has named yet")
    origin: str = Field(..., description="'enrolled', or the id of the stream where it was discovered")
    in_gallery: bool = Field(..., description="named: recognised in every stream")
    embeddings: int = Field(..., description="identity embeddings kept (biometric data, deleted with it)")
    created_at: float
    links: dict[str, str] = Field(default_factory=dict)


class EnrolResult(CharacterInfo):
    faces_usable: int


class CharacterList(BaseModel):
    characters: list[CharacterInfo]


class CharacterPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = _NAME


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(..., pattern=CHARACTER_ID, description="the character that is folded into this one")


class ExcludeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    character_id: str = Field(..., pattern=CHARACTER_ID, description="the character this track is not")


class StreamCharacters(BaseModel):
    stream_id: str
    characters: list[StreamCharacter]


def _info(stored: StoredCharacter) -> CharacterInfo:
    return CharacterInfo(
        id=stored.character_id,
        name=stored.name,
        origin=stored.origin,
        in_gallery=stored.named,
        embeddings=stored.embeddings,
        created_at=stored.created_at,
        links={
            "self": f"/characters/{stored.character_id}",
            "thumbnail": f"/characters/{stored.character_id}/thumbnail",
        },
    )


def existing_character(character_id: str, gallery: GalleryDep) -> StoredCharacter:
    stored = gallery.get(character_id) if re.fullmatch(CHARACTER_ID, character_id) else None
    if stored is None:
        raise HTTPException(status_code=404, detail=f"no character {character_id!r}")
    return stored


CharacterDep = Annotated[StoredCharacter, Depends(existing_character)]


@router.post(
    "/characters",
    status_code=201,
    dependencies=[MutationDep],
    response_model=EnrolResult,
    responses={422: {"model": ErrorBody}, 503: {"model": ErrorBody}, 504: {"model": ErrorBody}},
)
async def enrol(
    settings: SettingsDep,
    redis_client: RedisDep,
    gallery: GalleryDep,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    images: Annotated[list[UploadFile], File(description="photos with exactly one face each")],
) -> EnrolResult:
    """Enrols a person: each image must show exactly one identifiable face; any that does not fails the request
    (422, with the reason per image) and nothing is stored."""
    name = name.strip()
    if not name:
        raise HTTPException(status_code=422, detail="name: must not be blank")
    if not images or len(images) > settings.enrol_max_images:
        raise HTTPException(status_code=422, detail=f"images: give 1 to {settings.enrol_max_images} images")
    payloads = []
    for i, upload in enumerate(images, start=1):
        data = await upload.read(settings.enrol_max_image_bytes + 1)
        if len(data) > settings.enrol_max_image_bytes:
            raise HTTPException(
                status_code=422,
                detail=f"image {i} ({upload.filename}): larger than {settings.enrol_max_image_bytes} bytes",
            )
        payloads.append(data)
    results = await run_in_threadpool(_embed_on_worker, settings, redis_client, gallery, payloads)
    problems = [
        f"image {i} ({upload.filename}): {result['reason']}"
        for i, (upload, result) in enumerate(zip(images, results, strict=True), start=1)
        if "reason" in result
    ]
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    embeddings = [np.asarray(result["embedding"], dtype=np.float32) for result in results]
    character_id = gallery.create(name, ENROLLED, embeddings)
    stored = gallery.get(character_id)
    assert stored is not None
    return EnrolResult(**_info(stored).model_dump(), faces_usable=len(embeddings))


def _embed_on_worker(
    settings: Settings, redis_client: redis.Redis, gallery: GalleryStore, payloads: list[bytes]
) -> list[dict]:
    keys = gallery.keys
    if not any(True for _ in redis_client.scan_iter(match=keys.worker_pattern(), count=100)):
        raise HTTPException(status_code=503, detail="no worker is running to read the enrolment images; start one")
    job_id = uuid.uuid4().hex
    job = {"job_id": job_id, "images": [base64.b64encode(p).decode() for p in payloads]}
    redis_client.rpush(keys.enrol_requests, json.dumps(job))
    answer = redis_client.blpop([keys.enrol_reply(job_id)], timeout=settings.enrol_timeout_s)
    if answer is None:
        redis_client.lrem(keys.enrol_requests, 1, json.dumps(job))
        raise HTTPException(status_code=504, detail="no worker answered in time; the workers may be overloaded")
    reply = json.loads(answer[1])
    if "error" in reply:
        raise HTTPException(status_code=422, detail=f"the images could not be read: {reply['error']}")
    return reply["results"]


@router.get("/characters", response_model=CharacterList)
def list_characters(gallery: GalleryDep) -> CharacterList:
    """The gallery: every named character (enrolled, or discovered and then named)."""
    return CharacterList(characters=[_info(c) for c in gallery.gallery()])


@router.get("/characters/{character_id}", response_model=CharacterInfo, responses={404: {"model": ErrorBody}})
def get_character(stored: CharacterDep) -> CharacterInfo:
    return _info(stored)


@router.get(
    "/characters/{character_id}/thumbnail", responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorBody}}
)
def get_thumbnail(stored: CharacterDep, gallery: GalleryDep) -> Response:
    jpeg = gallery.thumbnail(stored.character_id)
    if jpeg is None:
        raise HTTPException(status_code=404, detail="no thumbnail yet: the character has not been seen in a stream")
    return Response(content=jpeg, media_type="image/jpeg")


@router.patch(
    "/characters/{character_id}",
    dependencies=[MutationDep],
    response_model=CharacterInfo,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def rename_character(stored: CharacterDep, body: CharacterPatch, gallery: GalleryDep) -> CharacterInfo:
    """Renames; a discovered character joins the gallery and is recognised in every stream from now on."""
    name = body.name.strip()
    if not name:
        raise HTTPException(status_code=422, detail="name: must not be blank")
    gallery.rename(stored.character_id, name)
    renamed = gallery.get(stored.character_id)
    assert renamed is not None
    return _info(renamed)


@router.delete(
    "/characters/{character_id}", dependencies=[MutationDep], status_code=204, responses={404: {"model": ErrorBody}}
)
def delete_character(stored: CharacterDep, gallery: GalleryDep) -> Response:
    """Deletes the character with its embeddings and thumbnail; its tracks become unidentified."""
    gallery.delete(stored.character_id)
    return Response(status_code=204)


@router.post(
    "/characters/{character_id}/merge",
    dependencies=[MutationDep],
    response_model=CharacterInfo,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def merge_characters(
    stored: CharacterDep, body: MergeBody, gallery: GalleryDep, registry: RegistryDep
) -> CharacterInfo:
    """Folds ``source`` into this character: its embeddings and tracks move here, then it is deleted."""
    if body.source == stored.character_id:
        raise HTTPException(status_code=422, detail="source: a character cannot be merged into itself")
    source = existing_character(body.source, gallery)
    for stream_id in (stream.id for stream in registry.list()):
        if any(s["character_id"] == source.character_id for s in gallery.stream_summaries(stream_id)):
            gallery.push_command(
                stream_id, {"op": "merge", "source": source.character_id, "target": stored.character_id}
            )
    gallery.merge(source.character_id, stored.character_id)
    merged = gallery.get(stored.character_id)
    assert merged is not None
    return _info(merged)


@router.get("/streams/{stream_id}/characters", response_model=StreamCharacters, responses={404: {"model": ErrorBody}})
def stream_characters(info: StreamDep, gallery: GalleryDep) -> StreamCharacters:
    """The characters seen in a stream, first seen first, with screen time and their window statistics."""
    return StreamCharacters(stream_id=info.id, characters=characters_of_stream(info.id, gallery))


def characters_of_stream(stream_id: str, gallery: GalleryStore) -> list[StreamCharacter]:
    """The worker's latest summaries, with the gallery's current names (a rename shows at once)."""
    out = []
    for summary in gallery.stream_summaries(stream_id):
        character_id = summary["character_id"]
        stored = gallery.get(character_id)
        if stored is None:
            continue  # deleted or merged since the worker's last update
        name = stored.name or summary["name"]
        links = {
            "character": f"/characters/{character_id}",
            "thumbnail": f"/characters/{character_id}/thumbnail",
            "stats": f"/streams/{stream_id}/stats?character={character_id}",
            "events": f"/streams/{stream_id}/events?character={character_id}",
        }
        out.append(StreamCharacter(**{**summary, "name": name}, links=links))
    return out


@router.post(
    "/streams/{stream_id}/tracks/{track_id}/not-character",
    dependencies=[MutationDep],
    status_code=202,
    responses={404: {"model": ErrorBody}},
)
def exclude_track(info: StreamDep, track_id: int, body: ExcludeBody, gallery: GalleryDep) -> dict:
    """Marks a track as not being a character; the worker re-assigns the track (if it is still on screen)."""
    if not 1 <= track_id <= 2**62:
        raise HTTPException(status_code=404, detail=f"no track {track_id}")
    gallery.push_command(
        info.id, {"op": "exclude", "track_id": track_id, "character_id": body.character_id, "at": time.time()}
    )
    return {"stream_id": info.id, "track_id": track_id, "excluded": body.character_id, "status": "queued"}
