"""Face tracks across frames: stable ids, One-Euro smoothing (video files in and out: facepoints.video)."""

from facepoints.geometry import box_iou
from facepoints.tracking.smoothing import OneEuroFilter
from facepoints.tracking.tracker import Tracker

__all__ = ["OneEuroFilter", "Tracker", "box_iou"]
