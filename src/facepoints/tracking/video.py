"""Video files and cameras through the tracker: an annotated video and one JSON line per frame.

Frames are read with OpenCV; the output keeps the source's frame rate and size. Outputs are
written under temporary names and moved into place when the run ends, also when it is
interrupted (Ctrl-C): the video is then finalized (playable) and the JSON Lines file holds one
complete line per processed frame.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facepoints.apps.filters import make_filter
from facepoints.files import safe_output
from facepoints.imageio import ImageReadError
from facepoints.landmarker import Face, draw_faces
from facepoints.schema import SCHEMA_VERSION
from facepoints.tracking.tracker import Tracker

__all__ = ["VideoSummary", "process_video", "open_capture"]


@dataclass
class VideoSummary:
    """What a run produced."""

    frames: int
    fps: float  # of the source
    width: int
    height: int
    seconds: float  # processing wall time
    video: Path | None = None
    jsonl: Path | None = None
    interrupted: bool = False
    track_ids: list[int] = field(default_factory=list)

    @property
    def processing_fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def open_capture(source: str | os.PathLike | int) -> cv2.VideoCapture:
    """An opened cv2.VideoCapture for a file or a camera index, or a clear error."""
    cap = cv2.VideoCapture(int(source) if isinstance(source, int) else str(source))
    if not cap.isOpened():
        what = f"camera {source}" if isinstance(source, int) else f"{source}"
        raise ImageReadError(f"{what}: cannot open it as a video" + ("" if isinstance(source, int) or Path(source).is_file() else " (no such file)"))
    return cap


def _part(path: Path) -> Path:
    return path.with_name(f".{path.stem}.part{path.suffix}")


def _frame_record(index: int, timestamp: float, faces: list[Face]) -> dict:
    return {"schema": SCHEMA_VERSION, "frame": index, "time": round(timestamp, 4), "faces": [f.to_dict() for f in faces]}


class _Window:
    """A live preview where OpenCV has a GUI; the headless wheel has none, then it stays off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def show(self, frame_rgb: np.ndarray) -> bool:
        """Show a frame; False when the user pressed q or Esc."""
        if not self.enabled:
            return True
        try:
            cv2.imshow("facepoints", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
            return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)
        except cv2.error:
            print("facepoints: this OpenCV has no GUI (headless); writing files only", file=sys.stderr)
            self.enabled = False
            return True


def process_video(
    source: str | os.PathLike | int,
    tracker: Tracker,
    out_video: str | os.PathLike | None = None,
    out_jsonl: str | os.PathLike | None = None,
    overlay: str | None = None,
    draw: bool = True,
    progress: bool = True,
    show: bool = False,
    max_frames: int | None = None,
) -> VideoSummary:
    """Track faces through a video file (or camera index) and write what was asked for."""
    apply = make_filter(overlay) if overlay else None  # resolved (a PNG read) once, before any output exists
    camera = isinstance(source, int)
    cap = open_capture(source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if 1 <= fps <= 1000 else 30.0
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    total = None if camera else int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    targets = [Path(p) for p in (out_video, out_jsonl) if p is not None]
    for t in targets:
        if not camera:
            safe_output(t, Path(source))
        t.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    if out_video is not None:
        writer = cv2.VideoWriter(str(_part(Path(out_video))), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise ValueError(f"{out_video}: OpenCV cannot write this video format (use .mp4 or .avi)")
    lines = open(_part(Path(out_jsonl)), "w") if out_jsonl is not None else None
    tracker.reset()
    window = _Window(show)
    summary = VideoSummary(0, fps, width, height, 0.0)
    ids: set[int] = set()
    start = time.perf_counter()
    bar = tqdm(total=total, desc=f"tracking {source}", unit="frame", disable=not progress)
    try:
        while max_frames is None or summary.frames < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            timestamp = time.perf_counter() - start if camera else summary.frames / fps
            faces = tracker.update(rgb, timestamp)
            ids.update(f.track_id for f in faces if f.track_id is not None)
            if lines is not None:
                lines.write(json.dumps(_frame_record(summary.frames, timestamp, faces)) + "\n")
            if writer is not None or window.enabled:
                shown = apply(rgb, [f.points for f in faces]) if apply and faces else rgb
                shown = draw_faces(shown, faces) if draw else shown
                if writer is not None:
                    writer.write(frame if shown is rgb else cv2.cvtColor(shown, cv2.COLOR_RGB2BGR))
                if not window.show(shown):
                    break
            summary.frames += 1
            bar.update()
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        cap.release()
        summary.seconds = time.perf_counter() - start
        if writer is not None:
            writer.release()
            os.replace(_part(Path(out_video)), out_video)
            summary.video = Path(out_video)
        if lines is not None:
            lines.close()
            os.replace(_part(Path(out_jsonl)), out_jsonl)
            summary.jsonl = Path(out_jsonl)
        if window.enabled:
            cv2.destroyAllWindows()
    summary.track_ids = sorted(ids)
    return summary
