"""Video and camera: face tracks with stable ids, One-Euro smoothing, video files in and out."""

from facepoints.tracking.smoothing import OneEuroFilter
from facepoints.tracking.tracker import Tracker, box_iou
from facepoints.tracking.video import VideoSummary, process_video

__all__ = ["OneEuroFilter", "Tracker", "VideoSummary", "box_iou", "process_video"]
