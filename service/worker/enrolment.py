"""Enrolment requests from the API, answered by a worker: the API never loads MTCNN or dlib.

The API pushes a job (the images, base64) onto ``enrol:requests`` and waits on ``enrol:reply:{job}``; a worker
takes one job per loop step, finds exactly one identifiable face per image with the same detector, quality
gate and embedder the live path uses, and replies with one embedding or one reason per image.
"""

from __future__ import annotations

import base64
import json
import logging

import cv2
import numpy as np
import redis

from service.bus.keys import Keys
from service.identity.embedder import FaceEmbedder
from service.identity.quality import QualityGate, assess
from service.vision.detector import FaceDetector

log = logging.getLogger(__name__)
REPLY_TTL_S = 120


def embed_images(images: list[bytes], detector: FaceDetector, embedder: FaceEmbedder, gate: QualityGate) -> list[dict]:
    """Per image: ``{"embedding": [...]}`` or ``{"reason": ...}``."""
    results = []
    for raw in images:
        decoded = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR) if raw else None
        if decoded is None:
            results.append({"reason": "not an image (JPEG, PNG, WebP, BMP or TIFF expected)"})
            continue
        image = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
        found = detector.detect([image])[0]
        if not found:
            results.append({"reason": "no face found"})
            continue
        if len(found) > 1:
            results.append({"reason": f"{len(found)} faces found; enrol from images of one person alone"})
            continue
        quality = assess(image, found[0], gate)
        if not quality.usable:
            results.append({"reason": f"face not identifiable: {quality.reason}"})
            continue
        embedding = embedder.embed([embedder.chip(image, found[0].box)])[0]
        results.append({"embedding": [float(v) for v in embedding]})
    return results


def serve_one(
    client: redis.Redis, keys: Keys, detector: FaceDetector, embedder: FaceEmbedder, gate: QualityGate
) -> bool:
    """Answers the oldest waiting enrolment job, if any; True when one was answered."""
    raw = client.lpop(keys.enrol_requests)
    if raw is None:
        return False
    try:
        job = json.loads(raw)
        images = [base64.b64decode(item) for item in job["images"]]
        reply = {"results": embed_images(images, detector, embedder, gate)}
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("malformed enrolment job: %s", exc)
        return True
    except Exception as exc:  # a bad image must never take the worker down
        log.exception("enrolment failed")
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    pipe = client.pipeline()
    pipe.rpush(keys.enrol_reply(job["job_id"]), json.dumps(reply))
    pipe.expire(keys.enrol_reply(job["job_id"]), REPLY_TTL_S)
    pipe.execute()
    return True
