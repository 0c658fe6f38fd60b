"""The character book: online grouping of tracks, gallery matches, evidence, margins, exclusions, deletions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.identity.characters import CharacterBook, GalleryEntry, IdentityThresholds


def person(seed: int) -> np.ndarray:
    """A 128-d identity centre; two centres are about 1.0 apart, like strangers for dlib's descriptor."""
    return np.random.default_rng(seed).normal(0, 1 / np.sqrt(128) / np.sqrt(2), 128).astype(np.float32)


def look(centre: np.ndarray, seed: int, spread: float = 0.15) -> np.ndarray:
    """One face of a person: its centre plus noise of about ``spread`` in length."""
    noise = np.random.default_rng(1000 + seed).normal(0, spread / np.sqrt(128), 128)
    return (centre + noise).astype(np.float32)


@pytest.fixture
def book() -> CharacterBook:
    ids = itertools.count(1)
    labels = itertools.count(1)
    return CharacterBook(IdentityThresholds(), lambda: f"ch_{next(ids):012x}", lambda: f"person {next(labels)}")


def test_one_face_is_not_enough_evidence_for_a_new_character(book):
    assert book.add_embedding(1, look(person(1), 0)) is None
    assert book.character_of(1) is None
    assignment = book.add_embedding(1, look(person(1), 1))
    assert assignment is not None and assignment.created
    assert book.character_of(1).label == "person 1"


def test_the_same_person_after_a_cut_keeps_the_character_and_another_person_gets_another(book):
    host, guest = person(1), person(2)
    book.add_embedding(1, look(host, 0))
    first = book.add_embedding(1, look(host, 1)).character
    book.end_track(1)  # the cut
    book.add_embedding(2, look(guest, 2))
    second = book.add_embedding(2, look(guest, 3)).character
    book.end_track(2)
    back = book.add_embedding(3, look(host, 4))
    assert back is not None and not back.created and back.character is first
    assert second.character_id != first.character_id
    assert len(first.exemplars) == 2  # the ended track's mean joined its character


def test_an_enrolled_person_is_named_from_one_face_and_a_stranger_never_is(book):
    host = person(1)
    book.set_gallery([GalleryEntry("ch_000000000a11", "Alice", (look(host, 10),))])
    assignment = book.add_embedding(1, look(host, 11, spread=0.3))
    assert assignment is not None and assignment.character.label == "Alice" and not assignment.created
    for track, seed in enumerate(range(20, 30), start=2):
        book.add_embedding(track, look(person(seed), 0))
        book.add_embedding(track, look(person(seed), 1))
        assert book.character_of(track).label != "Alice"


def test_a_borderline_first_look_waits_for_a_second_before_it_takes_an_enrolled_name(book):
    host = person(1)
    book.set_gallery([GalleryEntry("ch_000000000a11", "Alice", (host,))])
    offset = np.random.default_rng(3).normal(0, 1, 128).astype(np.float32)
    offset /= np.linalg.norm(offset)
    assert book.add_embedding(1, host + 0.46 * offset) is None  # one look at 0.46: not yet
    named = book.add_embedding(1, host + 0.40 * offset)  # the mean of two looks, 0.43: under 0.50
    assert named is not None and named.character.label == "Alice"
    close = book.add_embedding(2, host + 0.30 * offset)  # one look at 0.30: at once
    assert close is not None and close.character.label == "Alice"


def test_a_near_miss_needs_more_looks_before_it_founds_a_character(book):
    """First looks after a cut can miss their own character by a little: the track waits, and joins it once
    its mean comes close; a stranger far from everyone is founded on the usual two looks."""
    guest = person(2)
    book.add_embedding(1, look(guest, 0, spread=0.05))
    first = book.add_embedding(1, look(guest, 1, spread=0.05)).character
    book.end_track(1)
    offset = np.random.default_rng(7).normal(0, 1, 128).astype(np.float32)
    offset *= 0.42 / np.linalg.norm(offset)
    assert book.add_embedding(2, guest + offset) is None  # 0.42 away: a near miss
    assert book.add_embedding(2, guest + offset * 0.95) is None  # two looks, still a near miss: no new person
    joined = book.add_embedding(2, guest - offset * 0.5)  # a third look brings the mean within reach
    assert joined is not None and joined.character is first and not joined.created
    stranger = person(3)
    book.add_embedding(3, look(stranger, 0))
    assert book.add_embedding(3, look(stranger, 1)).created


def test_two_characters_that_fit_equally_well_leave_the_track_waiting(book):
    a, b = person(1), person(2)
    middle = (a + b) / 2
    book.set_gallery(
        [GalleryEntry("ch_00000000000a", "A", (middle + 0.01,)), GalleryEntry("ch_00000000000b", "B", (middle - 0.01,))]
    )
    assert book.add_embedding(1, middle) is None


def test_not_this_character_reassigns_the_track_and_never_back(book):
    host = person(1)
    book.set_gallery([GalleryEntry("ch_000000000a11", "Alice", (look(host, 10),))])
    book.add_embedding(1, look(host, 11))
    assert book.character_of(1).label == "Alice"
    book.add_embedding(1, look(host, 12))
    again = book.exclude(1, "ch_000000000a11")
    assert again is not None and again.created and again.character.label == "person 1"


def test_deleting_a_gallery_character_unassigns_its_tracks_and_renaming_reports_it(book):
    host = person(1)
    entry = GalleryEntry("ch_000000000a11", "Alice", (look(host, 10),))
    assert book.set_gallery([entry]) == ["ch_000000000a11"]
    book.add_embedding(1, look(host, 11))
    assert book.set_gallery([GalleryEntry("ch_000000000a11", "Alice B.", entry.embeddings)]) == ["ch_000000000a11"]
    assert book.character_of(1).label == "Alice B."
    assert book.set_gallery([]) == ["ch_000000000a11"]
    assert book.character_of(1) is None


def test_a_named_discovered_character_keeps_its_exemplars(book):
    host = person(1)
    book.add_embedding(1, look(host, 0))
    character = book.add_embedding(1, look(host, 1)).character
    book.set_gallery([GalleryEntry(character.character_id, "Bob", ())])
    assert book.character_of(1).label == "Bob" and book.characters[character.character_id].exemplars


def test_exemplars_are_capped_and_every_new_one_is_reported_for_storage():
    thresholds = IdentityThresholds(max_exemplars=3)
    book = CharacterBook(thresholds, lambda: "ch_000000000001", lambda: "person 1")
    host = person(1)
    for track in range(1, 6):
        book.add_embedding(track, look(host, 2 * track))
        book.add_embedding(track, look(host, 2 * track + 1))
        book.end_track(track)
    assert len(book.characters["ch_000000000001"].exemplars) == 3
    assert len(book.changes) == 5 + 1  # the founding track's mean, then one per ended track


def test_a_resumed_stream_recognises_the_people_it_discovered_and_numbers_new_ones_after_them():
    from service.pipeline.identity import PersonNames

    host, guest = person(1), person(2)
    names = PersonNames()
    book = CharacterBook(IdentityThresholds(), lambda: "ch_000000000009", names)
    names.taken("person 4")  # what StreamIdentity.restore does for each character it brings back
    names.taken("Host")  # a name someone gave is not a number
    book.restore([GalleryEntry("ch_000000000004", "person 4", (look(host, 0), look(host, 1)))])
    back = book.add_embedding(1, look(host, 2))
    assert back is not None and back.character.character_id == "ch_000000000004" and not back.created
    book.add_embedding(2, look(guest, 3))
    new = book.add_embedding(2, look(guest, 4))
    assert new.created and new.character.label == "person 5"
    book.restore([GalleryEntry("ch_000000000004", "renamed?", (look(guest, 5),))])  # known: left as it is
    assert book.characters["ch_000000000004"].label == "person 4"
