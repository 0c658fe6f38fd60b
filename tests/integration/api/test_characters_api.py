"""The character gallery in Redis through the API: durable across API restarts, renames, merges, deletes, odd ids."""

from __future__ import annotations

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.bus.gallery import ENROLLED, GalleryStore
from service.bus.keys import Keys
from service.config import Settings
from tests.conftest import LOOPBACK

pytestmark = pytest.mark.redis


@pytest.fixture
def settings(key_prefix):
    return Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK, api_key="secret")


@pytest.fixture
def gallery(redis_url, key_prefix):
    return GalleryStore(redis.Redis.from_url(redis_url), Keys(key_prefix))


AUTH = {"X-API-Key": "secret"}


def test_the_gallery_survives_an_api_restart_and_rename_merge_delete_work(settings, redis_url, gallery):
    alice = gallery.create("Alice", ENROLLED, [np.ones(128, dtype=np.float32)])
    found = gallery.create(None, "stream-1", [np.zeros(128, dtype=np.float32)])
    with TestClient(create_app(settings, redis_url)) as api:
        listed = api.get("/characters").json()["characters"]
        assert [c["id"] for c in listed] == [alice] and listed[0]["embeddings"] == 1
        assert api.get(f"/characters/{found}").json()["in_gallery"] is False
    with TestClient(create_app(settings, redis_url)) as api:  # a restarted API reads the same gallery
        assert api.patch(f"/characters/{found}", json={"name": "Bob"}).status_code == 401
        renamed = api.patch(f"/characters/{found}", json={"name": "Bob"}, headers=AUTH).json()
        assert renamed["name"] == "Bob" and renamed["in_gallery"]
        assert {c["name"] for c in api.get("/characters").json()["characters"]} == {"Alice", "Bob"}
        merged = api.post(f"/characters/{alice}/merge", json={"source": found}, headers=AUTH).json()
        assert merged["embeddings"] == 2
        assert api.get(f"/characters/{found}").status_code == 404
        assert api.delete(f"/characters/{alice}", headers=AUTH).status_code == 204
        assert api.get("/characters").json()["characters"] == []
    assert gallery.embeddings(alice) == [] and gallery.embeddings(found) == []  # biometric data is gone


@pytest.mark.parametrize("character_id", ["nope", "ch_" + "f" * 12, "ch_" + "x" * 12, "ch_" + "a" * 5000])
def test_odd_or_unknown_character_ids_are_404(settings, redis_url, character_id):
    with TestClient(create_app(settings, redis_url)) as api:
        assert api.get(f"/characters/{character_id}").status_code == 404
        assert api.delete(f"/characters/{character_id}", headers=AUTH).status_code == 404


def test_bad_names_merges_and_a_missing_worker_are_clear_errors(settings, redis_url, gallery):
    alice = gallery.create("Alice", ENROLLED, [np.ones(128, dtype=np.float32)])
    with TestClient(create_app(settings, redis_url)) as api:
        assert api.patch(f"/characters/{alice}", json={"name": "  "}, headers=AUTH).status_code == 422
        assert api.post(f"/characters/{alice}/merge", json={"source": alice}, headers=AUTH).status_code == 422
        response = api.post(
            "/characters", data={"name": "Carol"}, files=[("images", ("c.png", b"x", "image/png"))], headers=AUTH
        )
        assert response.status_code == 503 and "no worker" in response.json()["detail"]
        assert api.post("/characters", data={"name": "Carol"}).status_code == 401


def test_purging_a_stream_deletes_its_unnamed_discovered_characters_only(gallery):
    kept = gallery.create("Named", "s1", [np.ones(128, dtype=np.float32)])
    dropped = gallery.create(None, "s1", [np.ones(128, dtype=np.float32)])
    gallery.put_stream_summaries(
        "s1", [{"character_id": kept, "first_seen": 0}, {"character_id": dropped, "first_seen": 1}]
    )
    gallery.purge_stream("s1")
    assert gallery.get(kept) is not None and gallery.get(dropped) is None and gallery.embeddings(dropped) == []
    assert gallery.stream_summaries("s1") == []
