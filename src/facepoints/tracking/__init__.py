"""Video and camera: face tracks with stable ids, One-Euro smoothing, video files in and out."""

from facepoints.evaluation import box_iou
from facepoints.tracking.smoothing import OneEuroFilter
from facepoints.tracking.tracker import Tracker
from facepoints.tracking.video import VideoSummary, process_video

__all__ = ["OneEuroFilter", "Tracker", "VideoSummary", "box_iou", "process_video"]
