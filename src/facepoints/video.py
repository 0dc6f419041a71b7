"""Video files and cameras through the tracker: an annotated video and one JSON line per frame.

Frames are read with OpenCV; the output keeps the source's frame rate and size (an odd width or
height loses its last column or row, as yuv420p needs even sides). It is H.264 (yuv420p, what
browsers play) through PyAV for .mp4, .m4v, .mov and .mkv files, else OpenCV's ``mp4v`` (other
containers, or a PyAV without an H.264 encoder). Outputs are written under temporary names and
moved into place when the run ends, also when it is interrupted (Ctrl-C): the video is then
finalized (playable) and the JSON Lines file holds one complete line per processed frame. A file
that stops decoding before the frame count its container declares is reported (stderr,
``VideoSummary.complete``).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facepoints.apps.filters import make_filter
from facepoints.drawing import draw_faces
from facepoints.files import safe_output
from facepoints.imageio import ImageReadError
from facepoints.landmarker import Face
from facepoints.schema import SCHEMA_VERSION
from facepoints.tracking.tracker import Tracker

__all__ = ["VideoSummary", "process_video", "open_capture"]

#: Containers written as H.264 through PyAV (browsers play .mp4 and .m4v; .mov and .mkv take it too).
H264_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")


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
    codec: str | None = None  # of the written video: "h264", or "mp4v" (the fallback)
    expected_frames: int | None = None  # what the container declares (None: a camera, or not declared)
    warning: str | None = None  # why the run is incomplete

    @property
    def complete(self) -> bool:
        """False when the source stopped decoding before its declared end (a damaged or cut file)."""
        return self.warning is None

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


class _CvWriter:
    """OpenCV's ``mp4v`` writer: plays in desktop players, not in browsers; the fallback."""

    codec = "mp4v"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)

    def write(self, bgr: np.ndarray) -> None:
        self.writer.write(bgr)

    def close(self) -> None:
        self.writer.release()


class _H264Writer:
    """H.264 in yuv420p through PyAV (FFmpeg's libx264), the form every browser plays; an mp4
    gets its index at the front (``faststart``) so playback starts before the download ends.
    yuv420p needs even sides: an odd width or height loses its last column or row (OpenCV's
    writer crops the same way)."""

    codec = "h264"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import av

        faststart = {"movflags": "+faststart"} if path.suffix.lower() != ".mkv" else {}
        self.container = av.open(str(path), "w", options=faststart)
        rate = Fraction(fps).limit_denominator(1001)  # 29.97... -> 30000/1001
        # superfast encodes nearly twice as fast as veryfast, so the encoder costs no more than mp4v
        # did end to end; crf 21 keeps the drawn points sharp
        self.stream = self.container.add_stream("libx264", rate, options={"crf": "21", "preset": "superfast"})
        self.width, self.height = size[0] - size[0] % 2, size[1] - size[1] % 2
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.container.start_encoding()  # the header now: a run that reads no frame still leaves a valid file
        self.frame = av.VideoFrame

    def write(self, bgr: np.ndarray) -> None:
        bgr = np.ascontiguousarray(bgr[: self.height, : self.width])
        self.container.mux(self.stream.encode(self.frame.from_ndarray(bgr, format="bgr24")))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))  # the frames the encoder still holds
        self.container.close()


@functools.cache
def h264_available() -> bool:
    """Whether PyAV is installed with an H.264 encoder (its wheels bundle libx264)."""
    try:
        import av
    except ImportError:
        return False
    try:
        av.codec.Codec("libx264", "w")
    except ValueError:  # av.codec.codec.UnknownCodecError: a PyAV built without libx264
        return False
    return True


def _open_writer(target: Path, fps: float, size: tuple[int, int]) -> _CvWriter | _H264Writer:
    """A writer for ``target``'s temporary name: H.264 where its container and PyAV allow it, else ``mp4v``."""
    if target.suffix.lower() in H264_SUFFIXES and h264_available():
        return _H264Writer(_part(target), fps, size)
    writer = _CvWriter(_part(target), fps, size)
    if not writer.writer.isOpened():
        raise ValueError(f"{target}: OpenCV cannot write this video format (use .mp4 or .avi)")
    return writer


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
    declared = 0 if camera else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    declared = declared if declared > 0 else None  # backends give 0 or -1 where they cannot tell
    total = declared if max_frames is None else min(declared or max_frames, max_frames)
    targets = [Path(p) for p in (out_video, out_jsonl) if p is not None]
    for t in targets:
        if not camera:
            safe_output(t, Path(source))
        t.parent.mkdir(parents=True, exist_ok=True)
    writer = _open_writer(Path(out_video), fps, (width, height)) if out_video is not None else None
    lines = open(_part(Path(out_jsonl)), "w") if out_jsonl is not None else None
    tracker.reset()
    window = _Window(show)
    summary = VideoSummary(0, fps, width, height, 0.0, codec=writer.codec if writer else None, expected_frames=declared)
    source_ended = False
    ids: set[int] = set()
    start = time.perf_counter()
    bar = tqdm(total=total, desc=f"tracking {source}", unit="frame", disable=not progress)
    try:
        while max_frames is None or summary.frames < max_frames:
            ok, frame = cap.read()
            if not ok:
                source_ended = True
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
            writer.close()
            os.replace(_part(Path(out_video)), out_video)
            summary.video = Path(out_video)
        if lines is not None:
            lines.close()
            os.replace(_part(Path(out_jsonl)), out_jsonl)
            summary.jsonl = Path(out_jsonl)
        if window.enabled:
            cv2.destroyAllWindows()
    summary.track_ids = sorted(ids)
    if source_ended and declared and summary.frames < declared - _slack(declared):
        summary.warning = (
            f"{source}: decoding stopped after {summary.frames} of the {declared} frames its container declares "
            "(a damaged or cut file?); the outputs hold the frames read"
        )
        print(f"facepoints: warning: {summary.warning}", file=sys.stderr)
    return summary


def _slack(declared: int) -> int:
    """Frames a healthy file may fall short of its declared count by: containers without a frame
    count (mkv, webm) give an estimate from duration x rate, and edit lists can drop a frame or two."""
    return max(2, declared // 100)
