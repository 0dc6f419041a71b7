"""Annotated pictures of detected faces: points, contours, boxes, pose axes and measures."""

from __future__ import annotations

import cv2
import numpy as np

from facepoints.headpose import draw_pose
from facepoints.landmarker import Face
from facepoints.viz import draw_keypoints

__all__ = ["draw_faces"]


def _labels(face: Face) -> list[str]:
    lines = [] if face.track_id is None else [f"face {face.track_id}"]
    if face.pose is not None:
        lines.append(f"yaw {face.pose.yaw:+.0f} pitch {face.pose.pitch:+.0f} roll {face.pose.roll:+.0f}")
    if face.eyes is not None:
        lines.append(f"eyes {'open' if face.eyes.eyes_open >= 0.5 else 'closed'} ({face.eyes.ear:.2f})"
                     f" mouth {'open' if face.eyes.mouth_open else 'closed'}")  # fmt: skip
    if face.expression is not None:
        e = face.expression
        lines.append(f"smile {e.smile_width:.2f} open {e.mouth_openness:.2f} brows {e.brow_raise:.2f}")
    return lines


def draw_faces(image: np.ndarray, faces: list[Face], numbers: bool = False) -> np.ndarray:
    """A copy of ``image`` with each face's box, points and contours drawn, plus its pose
    axes and measures when the face carries them."""
    out = np.ascontiguousarray(image).copy()  # the one copy: every face is drawn onto it
    for face in faces:
        width = float(face.box[2] - face.box[0])
        radius = max(1.0, width / 70)  # dots scale with the face, not the photo
        draw_keypoints(out, face.points, face.layout, numbers=numbers, radius=radius, box=face.box, in_place=True)
        if face.pose is not None:
            draw_pose(out, face.pose)
        scale = max(0.35, width / 400)
        for i, text in enumerate(_labels(face)):
            y = int(face.box[3] + (i + 1) * 22 * scale)
            org = (int(face.box[0]), y)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(2, int(4 * scale)), cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), max(1, int(1.5 * scale)), cv2.LINE_AA)
    return out
