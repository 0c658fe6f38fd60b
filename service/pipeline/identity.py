"""The identity stage: a few of each track's best faces are embedded, and the book names the track's character.

Per track, the best usable face (``quality.assess``: size, sharpness, frontal pose) since the last embedding
is kept as a 150 px chip. A track that starts with a shot (at a cut, or on a stream's first frame) is embedded
on its first usable face, because broadcast shots are often a second or two long and every face event before
the decision goes out unnamed; a track that starts mid-shot (someone walks in, or a crowd face found again)
first lives ``first_after_s``, so fleeting faces cost no embedding. Until the track has a character the next
embeddings follow after ``every_s``, doubling each time (0.2, 0.4, 0.8 s …: quick evidence, and a long tail
for a track that waits on a near miss or a tie); once it has one, every ``settled_every_s`` for the
character's exemplars; at most ``max_per_track`` in all. Embeddings of all streams in a batch go through the
descriptor network in one call. Faces that never pass the gate leave their track unidentified, and faces
flagged occluded are never embedded. Timed as stage ``identity``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from service.identity.characters import (
    Assignment,
    CharacterBook,
    GalleryEntry,
    IdentityThresholds,
    new_character_id,
)
from service.identity.embedder import FaceEmbedder
from service.identity.quality import QualityGate, assess
from service.pipeline.records import FaceRecord, FrameRecord

_EPS = 1e-6  # media times are sums of frame steps: 1.4 - 0.4 must count as 1.0


@dataclass(frozen=True, slots=True)
class EmbeddingSchedule:
    first_after_s: float = 0.4  # for tracks that start mid-shot
    every_s: float = 0.2
    settled_every_s: float = 10.0
    max_per_track: int = 6


@dataclass
class _Sampling:
    started: float
    with_shot: bool  # the track started with its shot: embedded at once
    last_embedded: float | None = None
    embedded: int = 0
    best_score: float = -1.0
    best_chip: np.ndarray | None = None


@dataclass
class PersonNames:
    """``person N`` names for a stream's discovered characters, numbered on from the highest N it had."""

    next_number: int = 1

    def __call__(self) -> str:
        self.next_number += 1
        return f"person {self.next_number - 1}"

    def taken(self, name: str) -> None:
        match = re.fullmatch(r"person (\d+)", name)
        if match:
            self.next_number = max(self.next_number, int(match[1]) + 1)


@dataclass
class StreamIdentity:
    """What the identity stage remembers about one stream: its book and each live track's sampling."""

    book: CharacterBook
    names: PersonNames
    sampling: dict[int, _Sampling] = field(default_factory=dict)
    thumbnails: dict[str, np.ndarray] = field(default_factory=dict)  # character id -> chip, to be stored
    created: list[str] = field(default_factory=list)  # discovered character ids, to be stored
    frames: int = 0  # analysed frames seen

    def restore(self, discovered: Sequence[GalleryEntry]) -> None:
        """Resumes with the characters the stream discovered before; new ones are numbered after them."""
        self.book.restore(discovered)
        for entry in discovered:
            self.names.taken(entry.name)

    def end_tracks(self, track_ids: Sequence[int]) -> None:
        for track_id in track_ids:
            self.sampling.pop(track_id, None)
            self.book.end_track(track_id)


class IdentityStage:
    def __init__(
        self,
        embedder: FaceEmbedder,
        gate: QualityGate,
        thresholds: IdentityThresholds,
        schedule: EmbeddingSchedule = EmbeddingSchedule(),
    ) -> None:
        self.embedder = embedder
        self.gate = gate
        self.thresholds = thresholds
        self.schedule = schedule

    def new_stream(self) -> StreamIdentity:
        names = PersonNames()
        return StreamIdentity(CharacterBook(self.thresholds, new_character_id, names), names)

    def run(self, batch: Sequence[tuple[StreamIdentity, FrameRecord]]) -> None:
        """Chooses, embeds and decides; sets each face's character and each frame's new assignments."""
        due: list[tuple[StreamIdentity, FrameRecord, int, np.ndarray]] = []
        for state, record in batch:
            pts = record.frame.pts
            with_shot = record.cut or state.frames == 0
            state.frames += 1
            for face in record.faces:
                sampling = state.sampling.setdefault(face.track_id, _Sampling(started=pts, with_shot=with_shot))
                if sampling.embedded >= self.schedule.max_per_track or face.occluded:
                    continue  # enough embeddings; or a covered face, whose embedding would be the hand's
                quality = assess(record.frame.image, face.detection, self.gate)
                if quality.usable and quality.score > sampling.best_score:
                    sampling.best_score = quality.score
                    sampling.best_chip = self.embedder.chip(record.frame.image, face.detection.box)
                if sampling.best_chip is not None and self._is_due(state, face.track_id, sampling, pts):
                    due.append((state, record, face.track_id, sampling.best_chip))
                    sampling.last_embedded, sampling.embedded = pts, sampling.embedded + 1
                    sampling.best_score, sampling.best_chip = -1.0, None
        embeddings = self.embedder.embed([chip for *_, chip in due])
        for (state, record, track_id, chip), embedding in zip(due, embeddings, strict=True):
            self._add(state, record, track_id, embedding, chip)
        for state, record in batch:
            for face in record.faces:
                character = state.book.character_of(face.track_id)
                if character is not None:
                    face.character_id, face.character = character.character_id, character.label

    def another_person(
        self, state: StreamIdentity, record: FrameRecord, face: FaceRecord
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(embedding, chip) of ``face`` (whose look jumped since the last frame) when it is someone other than
        its track so far: an identifiable, uncovered face further than ``split_distance`` from the track's
        mean. The same person's new look counts as one of the track's embeddings instead, and None is
        returned."""
        mean = state.book.track_mean(face.track_id)
        image = record.frame.image
        if mean is None or face.occluded or not assess(image, face.detection, self.gate).usable:
            return None
        chip = self.embedder.chip(image, face.detection.box)
        embedding = self.embedder.embed([chip])[0]
        if float(np.linalg.norm(embedding - mean)) > self.thresholds.split_distance:
            return embedding, chip
        sampling = state.sampling.get(face.track_id)
        if sampling is not None:
            sampling.last_embedded, sampling.embedded = record.frame.pts, sampling.embedded + 1
        self._add(state, record, face.track_id, embedding, chip)
        return None

    def adopt(
        self, state: StreamIdentity, record: FrameRecord, track_id: int, embedding: np.ndarray, chip: np.ndarray
    ) -> None:
        """Starts the new track of a split with the embedding that told the two people apart."""
        pts = record.frame.pts
        state.sampling[track_id] = _Sampling(started=pts, with_shot=True, last_embedded=pts, embedded=1)
        self._add(state, record, track_id, embedding, chip)

    def _add(
        self, state: StreamIdentity, record: FrameRecord, track_id: int, embedding: np.ndarray, chip: np.ndarray
    ) -> None:
        """One embedding of a track into the book; a decision it brings is noted on the frame's record."""
        assignment = state.book.add_embedding(track_id, embedding)
        if assignment is not None:
            self._note(state, record, assignment, chip)

    def _is_due(self, state: StreamIdentity, track_id: int, sampling: _Sampling, pts: float) -> bool:
        if sampling.last_embedded is None:
            return sampling.with_shot or pts - sampling.started >= self.schedule.first_after_s - _EPS
        if state.book.character_of(track_id) is not None:
            every = self.schedule.settled_every_s
        else:
            every = self.schedule.every_s * 2 ** (sampling.embedded - 1)
        return pts - sampling.last_embedded >= every - _EPS

    @staticmethod
    def _note(state: StreamIdentity, record: FrameRecord, assignment: Assignment, chip: np.ndarray) -> None:
        record.assignments.append(assignment)
        character_id = assignment.character.character_id
        if assignment.created:
            state.created.append(character_id)
        if character_id not in state.thumbnails or assignment.created:
            state.thumbnails[character_id] = chip
