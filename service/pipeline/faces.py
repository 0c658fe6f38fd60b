"""The face stages of one analysed frame, batched across streams: cut, detect or follow, track, align, infer,
occlusion, identify, temporal, occlusion again for a face about to change label, hold.

Full MTCNN detection runs on a stream's frame when a shot cut is found, when a followed face is lost (at most
once per quarter interval: in a crowd some face is always being lost), and otherwise every
``detect_interval_s`` media seconds (new faces appear at the next one); on the frames between,
each face of the previous frame is followed by O-net alone around its previous box (``FaceDetector.refine``),
which gives its box and landmarks in about 2 ms instead of a full detection's 50–60 ms. The interval is
scaled by ``load`` (set by the worker when it falls behind), so a busy worker detects less often before it
has to analyse fewer frames.

Frames of all the streams a worker holds go through together: detection once per group of same-size frames,
the emotion backbone once over every face of the batch, the temporal head once over the cached windows of
every tracked face. Each stage fills its fields of the frames' ``FrameRecord``s; what a stream remembers
between frames (tracker, shot-cut detector, label hold, feature cache) is its ``StreamFaces``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from service.analytics import LabelHold
from service.emotion.classifier import EmotionClassifier
from service.emotion.feature_cache import TrackFeatureCache
from service.emotion.occlusion import OcclusionScorer
from service.emotion.temporal import TrackTemporal
from service.pipeline.identity import IdentityStage, StreamIdentity
from service.pipeline.records import FaceRecord, FrameRecord
from service.vision.detection import Detection
from service.vision.detector import FaceDetector
from service.vision.shot_cuts import ShotCutDetector, ncc
from service.vision.tracker import IouTracker, iou_matrix
from service.worker.timing import StageTimer


@dataclass
class StreamFaces:
    """What the face stages remember about one stream between frames."""

    tracker: IouTracker
    cuts: ShotCutDetector
    labels: LabelHold
    features: TrackFeatureCache | None  # per-track D′4 maps for the temporal head; None without one
    identity: StreamIdentity | None  # the stream's characters; None without an identity stage
    occlusion: dict[int, tuple[float, float]] = field(default_factory=dict)  # track -> (pts, score) last scored
    crops: dict[int, np.ndarray] = field(default_factory=dict)  # track -> its aligned crop on its last frame
    last_pts: float | None = None  # the previous analysed frame's media time
    last_detection: float | None = None  # media time of the last full detection

    def following(self) -> tuple[list[np.ndarray], int]:
        """Boxes ``refine`` looks at, and how many lead the list: the faces of the previous analysed frame
        (losing one of them calls a full detection), then faces lost since, at their last place, until their
        track ages out: a face behind a hand or a passing object is found again the moment it shows, under
        its own track, without waiting for the next full detection."""
        recent = [track.box for track in self.tracker.tracks if track.last_seen == self.last_pts]
        lost = [track.box for track in self.tracker.tracks if track.last_seen != self.last_pts]
        return recent + lost, len(recent)

    def detection_due(self, pts: float, cut: bool, interval_s: float) -> bool:
        if cut or self.last_detection is None or pts < self.last_detection:
            return True
        return pts - self.last_detection >= interval_s - 1e-6


def distinct(detections: Sequence[Detection], max_iou: float = 0.5) -> list[Detection]:
    """Followed faces that converged on one face are one face: the best-scored of each overlapping group."""
    kept: list[Detection] = []
    for detection in sorted(detections, key=lambda d: -d.score):
        if all(iou_matrix(detection.box[None], other.box[None])[0, 0] <= max_iou for other in kept):
            kept.append(detection)
    return kept


class FacePipeline:
    def __init__(
        self,
        detector: FaceDetector,
        classifier: EmotionClassifier,
        temporal: TrackTemporal | None,
        timer: StageTimer,
        *,
        identity: IdentityStage | None = None,
        occlusion: OcclusionScorer | None = None,
        detect_interval_s: float = 0.0,
        jump_ncc: float = 0.5,
        track_iou: float,
        track_max_age_s: float,
        label_margin: float,
        label_hold_s: float,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.temporal = temporal
        self.identity = identity
        self.occlusion = occlusion
        self.timer = timer
        self.detect_interval_s = detect_interval_s
        self.jump_ncc = jump_ncc
        self.load = 1.0  # >= 1: how far behind the worker is; stretches the detection interval
        self._track_iou, self._track_max_age_s = track_iou, track_max_age_s
        self._label_margin, self._label_hold_s = label_margin, label_hold_s

    def new_stream(self) -> StreamFaces:
        return StreamFaces(
            tracker=IouTracker(self._track_iou, self._track_max_age_s),
            cuts=ShotCutDetector(),
            labels=LabelHold(self._label_margin, self._label_hold_s),
            features=self.temporal.new_cache() if self.temporal else None,
            identity=self.identity.new_stream() if self.identity else None,
        )

    def run(self, batch: Sequence[tuple[StreamFaces, FrameRecord]]) -> None:
        """Fills every stage's fields of the records, in place."""
        with self.timer.stage("cut", items=len(batch)):
            for state, record in batch:
                record.cut = state.cuts.update(record.frame.image, record.frame.pts)
                if record.cut:
                    state.tracker.end_all()  # no track, window or label spans two shots
        self._find_faces(batch)
        faces = [face for _, record in batch for face in record.faces]
        with self.timer.stage("track", items=len(batch)):
            for state, record in batch:
                self._track(state, record)
        with self.timer.stage("align", items=len(faces)):
            for _, record in batch:
                for face in record.faces:
                    face.crop = self.classifier.crop(record.frame.image, face.detection.landmarks)
        with self.timer.stage("infer", items=len(faces)):
            inferred = self.classifier.infer([face.crop for face in faces])
            for i, face in enumerate(faces):
                face.frame_probs, face.features = inferred.probs[i], inferred.maps[i]
                face.probs, face.valence_arousal = inferred.probs[i], inferred.valence_arousal[i]
        if self.occlusion is not None:
            with self.timer.stage("occlusion", items=len(faces)):
                self._score_occlusion(batch, inferred.levels, self._occlusion_due(batch, confirm=False))
        if self.identity is not None:  # after occlusion: a covered face is not embedded
            with self.timer.stage("identity", items=len(faces)):
                self._continuity(batch, inferred.levels)
                self.identity.run([(state.identity, record) for state, record in batch if state.identity])
        with self.timer.stage("temporal", items=len(faces)):
            if self.temporal:
                self._temporal(batch)
        if self.occlusion is not None and (confirm := self._occlusion_due(batch, confirm=True)):
            with self.timer.stage("occlusion", items=len(confirm)):
                self._score_occlusion(batch, inferred.levels, confirm)
        for state, record in batch:
            for face in record.faces:
                assert face.probs is not None
                face.label = state.labels.decide(face.track_id, record.frame.pts, face.probs, face.occluded)

    def _find_faces(self, batch: Sequence[tuple[StreamFaces, FrameRecord]]) -> None:
        """Full detection where it is due (or a followed face was lost), O-net following elsewhere."""
        interval = self.detect_interval_s * self.load
        due: list[tuple[StreamFaces, FrameRecord]] = []
        follow: list[tuple[StreamFaces, FrameRecord, list[np.ndarray]]] = []
        for state, record in batch:
            if state.detection_due(record.frame.pts, record.cut, interval):
                due.append((state, record))
            else:
                boxes, recent = state.following()
                if boxes:
                    follow.append((state, record, boxes, recent))
        if follow:
            with self.timer.stage("refine", items=sum(len(boxes) for _, _, boxes, _ in follow)):
                images = [record.frame.image for _, record, *_ in follow]
                found = self.detector.refine(images, [boxes for *_, boxes, _ in follow])
            for (state, record, _, recent), detections in zip(follow, found, strict=True):
                lost = any(detection is None for detection in detections[:recent])
                if lost and record.frame.pts - (state.last_detection or 0.0) >= interval / 4 - 1e-6:
                    due.append((state, record))  # a face was lost: look at the whole frame again
                else:  # (in a crowd faces are lost all the time: at most one such look per quarter interval)
                    kept = [detection for detection in detections if detection is not None]
                    record.faces = [FaceRecord(detection) for detection in distinct(kept)]
        self._detect([record for _, record in due])
        for state, record in due:
            state.last_detection = record.frame.pts
        for state, record in batch:
            state.last_pts = record.frame.pts

    def _detect(self, records: list[FrameRecord]) -> None:
        if not records:
            return
        by_size: dict[tuple[int, ...], list[FrameRecord]] = defaultdict(list)
        for record in records:
            by_size[record.frame.image.shape].append(record)
        with self.timer.stage("detect", items=len(records)):
            for group in by_size.values():
                found = self.detector.detect([record.frame.image for record in group])
                for record, detections in zip(group, found, strict=True):
                    record.faces = [FaceRecord(detection) for detection in detections]

    @staticmethod
    def _track(state: StreamFaces, record: FrameRecord) -> None:
        """Track ids; then drops the cached maps, held labels and identity samples of tracks that ended."""
        before = {track.track_id for track in state.tracker.tracks}
        boxes = np.array([face.detection.box for face in record.faces]).reshape(-1, 4)
        for face, track_id in zip(record.faces, state.tracker.update(boxes, record.frame.pts), strict=True):
            face.track_id = track_id
        alive = tuple(track.track_id for track in state.tracker.tracks)
        if state.identity is not None:
            state.identity.end_tracks(sorted(before - set(alive)))
        state.labels.keep_only(alive)
        state.occlusion = {track: scored for track, scored in state.occlusion.items() if track in alive}
        state.crops = {track: crop for track, crop in state.crops.items() if track in alive}
        if state.features is not None:
            state.features.prune(alive)

    def _continuity(self, batch: Sequence[tuple[StreamFaces, FrameRecord]], levels: list) -> None:
        """A face whose aligned look jumped since its track's last frame may be another person in the same place
        (a cut the shot detector cannot see: portraits on one backdrop and framing), or the same person behind
        a hand. Such faces are scored for occlusion now if they were not on this frame; identity then decides
        on the visible ones, and another person's face goes on under a new track id, so no track, label or
        name carries over to them. A frame on which every face became someone else is marked as a cut."""
        assert self.identity is not None
        jumped: list[tuple[StreamFaces, FrameRecord, FaceRecord]] = []
        unscored: list[int] = []
        row = 0
        for state, record in batch:
            for face in record.faces:
                assert face.crop is not None
                previous = state.crops.get(face.track_id)
                state.crops[face.track_id] = face.crop
                if state.identity is not None and previous is not None and ncc(previous, face.crop) < self.jump_ncc:
                    jumped.append((state, record, face))
                    scored = state.occlusion.get(face.track_id)
                    if self.occlusion is not None and (scored is None or scored[0] != record.frame.pts):
                        unscored.append(row)
                row += 1
        if unscored:
            self._score_occlusion(batch, levels, unscored)
        split: dict[int, int] = defaultdict(int)  # id(record) -> faces split on it
        for state, record, face in jumped:
            assert state.identity is not None
            other = self.identity.another_person(state.identity, record, face)
            if other is not None:
                old, face.track_id = face.track_id, state.tracker.split(face.track_id)
                state.identity.end_tracks([old])
                self.identity.adopt(state.identity, record, face.track_id, *other)
                state.crops[face.track_id] = state.crops.pop(old)
                if old in state.occlusion:
                    state.occlusion[face.track_id] = state.occlusion.pop(old)
                split[id(record)] += 1
        for _, record in batch:  # everyone on screen is someone else: a cut the frame comparison missed
            if split[id(record)] == len(record.faces) > 0:
                record.cut = True

    def _occlusion_due(self, batch: Sequence[tuple[StreamFaces, FrameRecord]], *, confirm: bool) -> list[int]:
        """Rows (faces in batch order) to score: those due on the schedule, or (``confirm``) those about to change
        label that were not scored on this frame. A hand first turns the reading, then the label, and between
        two scheduled scores nothing else would see it; this way a label never changes on an unscored face."""
        assert self.occlusion is not None
        due: list[int] = []
        row = 0
        for state, record in batch:
            pts = record.frame.pts
            for face in record.faces:
                last = state.occlusion.get(face.track_id)
                if confirm:
                    assert face.probs is not None and last is not None
                    if last[0] != pts and state.labels.would_change(face.track_id, pts, face.probs):
                        due.append(row)
                elif self.occlusion.due(last[0] if last else None, pts):
                    due.append(row)
                row += 1
        return due

    def _score_occlusion(self, batch: Sequence[tuple[StreamFaces, FrameRecord]], levels: list, due: list[int]) -> None:
        """Scores the rows ``due`` in one decoder batch; every other face keeps its track's last score."""
        assert self.occlusion is not None
        scores, masks = self.occlusion.score(levels, due)
        scored = {row: (score, mask) for row, score, mask in zip(due, scores, masks, strict=True)}
        row = 0
        for state, record in batch:
            for face in record.faces:
                if row in scored:
                    state.occlusion[face.track_id] = (record.frame.pts, float(scored[row][0]))
                    face.saliency = scored[row][1]
                face.occlusion = state.occlusion[face.track_id][1]
                face.occluded = face.occlusion >= self.occlusion.threshold
                row += 1

    def _temporal(self, batch: Sequence[tuple[StreamFaces, FrameRecord]]) -> None:
        """Pushes every face's D′4 map into its track's cache; probabilities and V/A from the track's window."""
        assert self.temporal is not None
        items, faces = [], []
        for state, record in batch:
            assert state.features is not None
            for face in record.faces:
                covered = face.occluded and state.features.size(face.track_id) > 0  # hold the window as it was
                items.append((state.features, face.track_id, record.frame.pts, None if covered else face.features))
                faces.append(face)
        probs, valence_arousal, _ = self.temporal.update(items)
        for i, face in enumerate(faces):
            face.probs, face.valence_arousal = probs[i], valence_arousal[i]
