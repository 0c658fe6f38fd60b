"""Characters: tracks grouped online into people, matched to the enrolled gallery or discovered in the stream.

A track is one person within one shot. Every few seconds the identity stage hands the book an embedding of
the track's best face; the book compares the mean of the track's embeddings with every character's
exemplars (the mean distance to its 3 nearest exemplars, so one odd exemplar neither makes nor breaks a
match) and decides:

- **gallery match**: an enrolled character within ``gallery_distance`` (0.50; dlib's descriptor puts one
  person across broadcast shots at 0.31–0.57 from a still, strangers at 0.69–0.82), or within
  ``first_look_gallery_distance`` (0.42) while the track has one embedding: a track is embedded on its first
  usable face, and one look of a similar-looking stranger can fall under 0.50 where the mean of a few does
  not (a false name is worse than a name that comes 0.2 s later);
- **discovered match**: a character found earlier in this stream within ``match_distance`` (0.36; on stills
  of ten similar-looking people one person sat at a median 0.26, different people at a median 0.47 and a
  5th percentile of 0.38, so a stricter bound keeps characters pure at the price of sometimes splitting one
  person in two);
- the best match must beat the next character by ``margin``, else the track waits for more evidence;
- **new character**: nothing matches and the track has ``min_embeddings`` embeddings (one face is not
  enough evidence to add a person); it is named ``person N`` until someone names it. When the nearest
  character is a near miss (closer than ``near_distance``, 0.50) the track needs ``min_embeddings_near``
  (4): a person's first looks after a cut can sit 0.41–0.45 from their own character while the mean over
  the shot falls to 0.28, and founding on two looks split one guest into two people.

Once assigned a track keeps its character (ids must not flicker in a live timeline) unless that character is
deleted or the track is marked "not this character". A track is one face that the tracker followed by its box;
when another person takes that place without a detected cut (portraits cut on one backdrop and framing), the
pipeline asks whether a new look is further than ``split_distance`` (0.45) from the track's mean and, if so,
ends the track there (``IdentityStage.another_person``). When a track ends its mean joins its character's
exemplars, so a character learns the looks it has in this programme. Pure: numbers in, decisions out; ids and
names come from the caller's factories and storage is the caller's job (``CharacterBook.changes``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

NEAREST = 3  # exemplars averaged in a track-to-character distance


def new_character_id() -> str:
    """Character ids are global (a named character is recognised in every stream), so random, not counted."""
    return f"ch_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class IdentityThresholds:
    match_distance: float = 0.36
    gallery_distance: float = 0.50
    first_look_gallery_distance: float = 0.42
    margin: float = 0.03
    min_embeddings: int = 2
    near_distance: float = 0.50
    min_embeddings_near: int = 4
    split_distance: float = 0.45
    max_exemplars: int = 32


@dataclass
class Character:
    character_id: str
    label: str  # the name, or "person N" while unnamed
    named: bool  # in the gallery: enrolled, or a discovered character someone named
    exemplars: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GalleryEntry:
    character_id: str
    name: str
    embeddings: tuple[np.ndarray, ...]


@dataclass(frozen=True, slots=True)
class Assignment:
    """A track was given a character; ``created`` when the character is new to the world (discovered)."""

    track_id: int
    character: Character
    created: bool
    distance: float | None


@dataclass
class _Track:
    embeddings: list[np.ndarray] = field(default_factory=list)
    character_id: str | None = None
    excluded: set[str] = field(default_factory=set)

    def mean(self) -> np.ndarray:
        return np.mean(self.embeddings, axis=0)


class CharacterBook:
    """The characters one stream knows, and which character each of its live tracks is."""

    def __init__(
        self,
        thresholds: IdentityThresholds,
        new_id: Callable[[], str],
        new_label: Callable[[], str],
    ) -> None:
        self.thresholds = thresholds
        self._new_id, self._new_label = new_id, new_label
        self.characters: dict[str, Character] = {}
        self._tracks: dict[int, _Track] = {}
        self.changes: list[tuple[str, np.ndarray]] = []  # (character id, exemplar) added since last drained

    # the gallery
    def set_gallery(self, entries: Iterable[GalleryEntry]) -> list[str]:
        """Replaces the named characters with the gallery's; returns ids whose name changed or that vanished."""
        gallery = {entry.character_id: entry for entry in entries}
        touched = []
        for character_id, character in list(self.characters.items()):
            if character.named and character_id not in gallery:
                del self.characters[character_id]
                touched.append(character_id)
                for track in self._tracks.values():
                    if track.character_id == character_id:
                        track.character_id = None
        for entry in gallery.values():
            current = self.characters.get(entry.character_id)
            if current is None or current.label != entry.name or not current.named:
                touched.append(entry.character_id)
            exemplars = [np.asarray(e, dtype=np.float32) for e in entry.embeddings]
            if current is not None and not exemplars:
                exemplars = current.exemplars
            self.characters[entry.character_id] = Character(entry.character_id, entry.name, True, exemplars)
        return touched

    def restore(self, discovered: Iterable[GalleryEntry]) -> None:
        """Characters this stream discovered before (a restart or another worker's takeover), unnamed, with
        their stored exemplars: the same person keeps the same id when the stream resumes."""
        for entry in discovered:
            if entry.character_id not in self.characters and entry.embeddings:
                exemplars = [np.asarray(e, dtype=np.float32) for e in entry.embeddings][
                    -self.thresholds.max_exemplars :
                ]
                self.characters[entry.character_id] = Character(entry.character_id, entry.name, False, exemplars)

    def rename(self, character_id: str, label: str) -> None:
        if character_id in self.characters:
            self.characters[character_id].label = label

    # tracks
    def character_of(self, track_id: int) -> Character | None:
        track = self._tracks.get(track_id)
        if track is None or track.character_id is None:
            return None
        return self.characters.get(track.character_id)

    def tracks_of(self, character_id: str) -> list[int]:
        return [tid for tid, track in self._tracks.items() if track.character_id == character_id]

    def add_embedding(self, track_id: int, embedding: np.ndarray) -> Assignment | None:
        """Adds one embedding of a track; returns the assignment when the track gets a character now."""
        track = self._tracks.setdefault(track_id, _Track())
        track.embeddings.append(np.asarray(embedding, dtype=np.float32))
        if track.character_id is not None:
            return None
        return self._decide(track_id, track)

    def exclude(self, track_id: int, character_id: str) -> Assignment | None:
        """ "Not this character": the track forgets it, never takes it again, and is decided anew."""
        track = self._tracks.setdefault(track_id, _Track())
        track.excluded.add(character_id)
        if track.character_id == character_id:
            track.character_id = None
        return self._decide(track_id, track) if track.embeddings else None

    def reassign(self, track_id: int, character_id: str) -> None:
        """A user's decision (a merge): the track is this character from now on."""
        self._tracks.setdefault(track_id, _Track()).character_id = character_id

    def end_track(self, track_id: int) -> None:
        """A track ended (lost, or a cut): its mean becomes an exemplar of its character."""
        track = self._tracks.pop(track_id, None)
        if track is None or track.character_id is None or len(track.embeddings) < self.thresholds.min_embeddings:
            return
        character = self.characters.get(track.character_id)
        if character is not None:
            self._add_exemplar(character, track.mean())

    def track_mean(self, track_id: int) -> np.ndarray | None:
        """The mean of a live track's embeddings so far; None before its first."""
        track = self._tracks.get(track_id)
        return track.mean() if track is not None and track.embeddings else None

    def live_tracks(self) -> list[int]:
        return list(self._tracks)

    # decisions
    def distances(self, embedding: np.ndarray) -> dict[str, float]:
        """Distance of an embedding to every character that has exemplars."""
        out = {}
        for character_id, character in self.characters.items():
            if character.exemplars:
                gaps = np.linalg.norm(np.stack(character.exemplars) - embedding[None, :], axis=1)
                out[character_id] = float(np.sort(gaps)[:NEAREST].mean())
        return out

    def _decide(self, track_id: int, track: _Track) -> Assignment | None:
        t = self.thresholds
        distances = {cid: d for cid, d in self.distances(track.mean()).items() if cid not in track.excluded}
        ranked = sorted(distances.items(), key=lambda item: item[1])
        if ranked:
            best_id, best = ranked[0]
            character = self.characters[best_id]
            limit = t.gallery_distance if character.named else t.match_distance
            if character.named and len(track.embeddings) == 1:
                limit = min(limit, t.first_look_gallery_distance)
            if best < limit:
                runner_up = ranked[1][1] if len(ranked) > 1 else float("inf")
                if runner_up - best < t.margin:
                    return None  # two characters fit about equally well: wait for more evidence
                track.character_id = best_id
                return Assignment(track_id, character, False, best)
        near_miss = bool(ranked) and ranked[0][1] < t.near_distance
        if len(track.embeddings) < (t.min_embeddings_near if near_miss else t.min_embeddings):
            return None
        character = Character(self._new_id(), self._new_label(), False)
        self.characters[character.character_id] = character
        self._add_exemplar(character, track.mean())
        track.character_id = character.character_id
        return Assignment(track_id, character, True, None)

    def _add_exemplar(self, character: Character, exemplar: np.ndarray) -> None:
        character.exemplars.append(exemplar)
        if len(character.exemplars) > self.thresholds.max_exemplars:
            del character.exemplars[0]
        self.changes.append((character.character_id, exemplar))
