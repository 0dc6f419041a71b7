"""Face tracking across video frames: stable ids, landmark-driven boxes, One-Euro smoothing.

The face detector runs every ``detect_every`` frames, and at once whenever a track is lost
or there is none. In between, each face's crop comes from its own landmarks in the previous
frame (the landmark-box convention the model was trained on, so no refinement pass is needed
and one model pass per face suffices). Detections are matched to tracks by the IoU of their
landmark boxes with the Hungarian algorithm; unmatched detections start new tracks (new id,
fresh filter), and a track the detector misses twice in a row ends. A track whose landmark
confidence falls below ``min_score`` ends at once, so a face that leaves or is covered does
not leave points floating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepoints.geometry import box_iou, oriented_points_box, points_box
from facepoints.landmarker import Face, FaceLandmarker
from facepoints.predict import LandmarkResult
from facepoints.tracking.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF, LandmarkSmoother

__all__ = ["Tracker"]

SMOOTHERS = ("one-euro", "none")


@dataclass(eq=False)
class _Track:
    id: int
    raw: np.ndarray  # the last unsmoothed points
    confidence: np.ndarray  # per-point confidence of the last frame
    score: float  # landmark confidence of the last frame
    detector_score: float
    smoother: LandmarkSmoother | None
    misses: int = 0  # detection frames in a row without a matching detection
    keypoints5: np.ndarray | None = None  # the detector's keypoints, on frames where it found this face
    detector_box: np.ndarray | None = None  # the detector's last box for this face ...
    anchor: np.ndarray | None = None  # ... and the landmark box of that frame, which it moves with

    def detected(self, box: np.ndarray, keypoints5: np.ndarray | None) -> None:
        """Record the detector's box and keypoints of this frame."""
        self.detector_box, self.anchor, self.keypoints5 = np.asarray(box, np.float64), points_box(self.raw), keypoints5

    def box(self, points: np.ndarray) -> np.ndarray:
        """The detector's box carried along with the landmarks since it was detected (detect's box convention)."""
        now = points_box(points)
        scale = (now[2:] - now[:2]) / np.maximum(self.anchor[2:] - self.anchor[:2], 1e-6)
        centre = (now[:2] + now[2:]) / 2 + ((self.detector_box.reshape(2, 2) - (self.anchor[:2] + self.anchor[2:]) / 2) * scale)
        return centre.reshape(4).astype(np.float32)


class Tracker:
    """Turns a stream of frames into faces with stable ``track_id`` and smoothed landmarks."""

    def __init__(
        self,
        landmarker: FaceLandmarker | None = None,
        detect_every: int = 10,
        smooth: str = "one-euro",
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = DEFAULT_BETA,
        min_score: float = 0.3,
        match_iou: float = 0.3,
        pose: bool = True,
        flip: bool = True,
        eyes: bool = False,
    ) -> None:
        """``flip`` averages each tracking pass with a mirrored one: twice the model time
        (about 1.5 ms per face) for a third less jitter before smoothing."""
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        if smooth not in SMOOTHERS:
            raise ValueError(f"unknown smoothing {smooth!r}; choose from {', '.join(SMOOTHERS)}")
        self.landmarker = landmarker or FaceLandmarker()
        self.detect_every, self.smooth = detect_every, smooth
        self.min_cutoff, self.beta = min_cutoff, beta
        self.min_score, self.match_iou, self.pose = min_score, match_iou, pose
        self.flip = flip and self.landmarker.predictor.can_flip
        self.eyes = eyes
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video)."""
        self.tracks: list[_Track] = []
        self._next_id = 0
        self._frame = 0
        self._lost = False

    def _new_track(self, result: LandmarkResult, detector_score: float, box: np.ndarray, keypoints5: np.ndarray | None) -> _Track:
        smoother = LandmarkSmoother(self.min_cutoff, self.beta) if self.smooth == "one-euro" else None
        track = _Track(self._next_id, result.points, result.confidence, result.score, detector_score, smoother)
        track.detected(box, keypoints5)
        self._next_id += 1
        return track

    def _detect(self, image: np.ndarray) -> None:
        self._lost = False
        found = self.landmarker.find_faces(image)
        boxes, rolls = self.landmarker.first_crops(found)
        results = self.landmarker.predictor.predict(image, boxes, flip=self.flip, rolls=rolls) if len(found) else []
        kps = [None] * len(found) if found.keypoints is None else list(found.keypoints)
        results = [(r, float(s), b, k) for r, s, b, k in zip(results, found.scores, found.boxes, kps) if r.score >= self.min_score]
        old = [points_box(t.raw) for t in self.tracks]
        new = [points_box(r.points) for r, _, _, _ in results]
        matched_tracks, matched_dets = set(), set()
        if old and new:
            from scipy.optimize import linear_sum_assignment  # scipy loads with the first match, not with the CLI

            iou = box_iou(np.array(old), np.array(new))
            rows, cols = linear_sum_assignment(-iou)
            for i, j in zip(rows, cols):
                if iou[i, j] >= self.match_iou:
                    t, (r, s, b, k) = self.tracks[i], results[j]
                    t.raw, t.confidence, t.score, t.detector_score, t.misses = r.points, r.confidence, r.score, s, 0
                    t.detected(b, k)
                    matched_tracks.add(i)
                    matched_dets.add(j)
        survivors, unmatched = [], []
        for i, t in enumerate(self.tracks):
            if i in matched_tracks:
                survivors.append(t)
            elif t.misses < 1:  # missed once: follow it by its landmarks this time
                t.misses += 1
                survivors.append(t)
                unmatched.append(t)
        if unmatched:
            self._follow(image, unmatched)
        self.tracks = [t for t in survivors if t.score >= self.min_score]
        self.tracks += [self._new_track(r, s, b, k) for j, (r, s, b, k) in enumerate(results) if j not in matched_dets]

    def _follow(self, image: np.ndarray, tracks: list[_Track]) -> None:
        """One model pass per track, its crop taken from its previous landmarks (turned by their roll)."""
        predictor = self.landmarker.predictor
        raw = np.stack([t.raw for t in tracks])
        rolls = predictor.point_turns(raw)
        boxes = np.stack([oriented_points_box(p, r) for p, r in zip(raw, rolls)])
        for t, r in zip(tracks, predictor.predict(image, boxes, refine=0, flip=self.flip, rolls=rolls)):
            t.raw, t.confidence, t.score, t.keypoints5 = r.points, r.confidence, r.score, None

    def _drop_duplicates(self) -> None:
        """Two tracks on one face (after a detector double hit): keep the older one."""
        if len(self.tracks) < 2:
            return
        tracks = sorted(self.tracks, key=lambda t: t.id)
        boxes = np.stack([points_box(t.raw) for t in tracks])
        iou = box_iou(boxes, boxes)
        keep: list[int] = []
        for i in range(len(tracks)):
            if all(iou[i, k] < 0.5 for k in keep):
                keep.append(i)
        self.tracks = [tracks[i] for i in keep]

    def update(self, image: np.ndarray, timestamp: float) -> list[Face]:
        """Faces in one RGB frame taken at ``timestamp`` seconds, with ``track_id`` set."""
        if not self.tracks or self._lost or self._frame % self.detect_every == 0:
            self._detect(image)
        else:
            self._follow(image, self.tracks)
            alive = [t for t in self.tracks if t.score >= self.min_score]
            self._lost = len(alive) < len(self.tracks)
            self.tracks = alive
        self._drop_duplicates()
        self._frame += 1
        faces = []
        for t in self.tracks:
            points = t.raw if t.smoother is None else t.smoother(t.raw, timestamp).astype(np.float32)
            layout = self.landmarker.layout
            face = Face(t.box(points), t.detector_score, points, t.confidence, t.score, layout, track_id=t.id, keypoints5=t.keypoints5)
            is68 = face.layout == "ibug68"
            faces.append(face.measure(image, pose=self.pose and is68, eyes=self.eyes and is68))
        return faces
