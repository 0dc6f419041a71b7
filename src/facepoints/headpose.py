"""Head pose (yaw, pitch, roll in degrees) from landmarks with cv2.solvePnP.

The image points (the 68 iBUG points, or a layout made from them) are matched to the bundled
3D reference (:mod:`facepoints.face3d`) seen by a pinhole camera made from the image
size alone: focal length = the longer image side (about 53 degrees of field of view),
principal point at the centre, no distortion.

Angles, for the person in the picture:

- ``yaw`` > 0: the face turns towards the image's right (its nose points right);
- ``pitch`` > 0: the face looks up;
- ``roll`` > 0: the head tilts so that its eye line falls towards the image's right
  (clockwise on screen).

The rotation from the reference frame to the camera is ``R = Rz(roll) @ Ry(-yaw) @ Rx(-pitch)``
(:func:`rotation_matrix`); a face looking straight at the camera has ``R = I``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facepoints.face3d import face3d_reference
from facepoints.layouts import IBUG68, Layout, get_layout

__all__ = ["HeadPose", "angles_from_rotation", "camera_matrix", "draw_pose", "head_pose", "project", "rotation_matrix"]


@dataclass
class HeadPose:
    """Euler angles in degrees plus the raw solvePnP result (for drawing and 3D work)."""

    yaw: float
    pitch: float
    roll: float
    rvec: np.ndarray  # (3,) Rodrigues vector, reference frame -> camera
    tvec: np.ndarray  # (3,) translation in mm
    camera: np.ndarray  # (3, 3) intrinsics used
    error_px: float  # RMS reprojection error of the points

    def to_dict(self) -> dict:
        """JSON-ready angles, translation (mm) and reprojection error."""
        return {
            "yaw": round(self.yaw, 2),
            "pitch": round(self.pitch, 2),
            "roll": round(self.roll, 2),
            "translation_mm": [round(float(v), 1) for v in self.tvec],
            "reprojection_error_px": round(self.error_px, 2),
        }


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The reference-to-camera rotation of a head at these angles (degrees)."""
    y, p, r = np.radians([yaw, pitch, roll])
    return _rz(r) @ _ry(-y) @ _rx(-p)


def angles_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation made by :func:`rotation_matrix`."""
    r = np.asarray(rotation, dtype=np.float64)
    theta = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    phi = np.arctan2(r[2, 1], r[2, 2])
    psi = np.arctan2(r[1, 0], r[0, 0])
    yaw, pitch, roll = np.degrees([-theta, -phi, psi])
    return float(yaw), float(pitch), float(roll)


def camera_matrix(width: int, height: int) -> np.ndarray:
    """Pinhole intrinsics assumed for an image of this size (focal = longer side)."""
    f = float(max(width, height))
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=np.float64)


def project(points3d: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Image positions (N, 2) of 3D points under a pose and camera."""
    out, _ = cv2.projectPoints(np.asarray(points3d, np.float64), rvec, tvec, camera, None)
    return out.reshape(-1, 2)


def head_pose(points: np.ndarray, image_size: tuple[int, int], layout: str | Layout = "ibug68") -> HeadPose:
    """Head pose of one face from its image points; ``image_size`` is (width, height)."""
    lay = get_layout(layout)
    pts = lay.require_points(points, "head pose")
    lay.require_anchors("right_eye_outer", "left_eye_outer", purpose="head pose")
    model = face3d_reference(lay)
    camera = camera_matrix(*image_size)

    def corners(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return lay.anchor_point(p, "right_eye_outer"), lay.anchor_point(p, "left_eye_outer")

    # start in front of the camera at the distance the eye spacing implies, then refine
    (right, left), (model_right, model_left) = corners(pts), corners(model)
    eye_px = max(float(np.linalg.norm(left - right)), 1.0)
    z0 = camera[0, 0] * float(np.linalg.norm(model_left - model_right)) / eye_px
    centre = (right + left) / 2
    t0 = np.array([(centre[0] - camera[0, 2]) * z0 / camera[0, 0], (centre[1] - camera[1, 2]) * z0 / camera[1, 1], z0])
    # start at the face's roll in the image, so faces turned sideways or upside down converge too
    r0 = cv2.Rodrigues(rotation_matrix(0.0, 0.0, float(lay.roll(pts))))[0] if lay.has_roll else np.zeros(3)
    ok, rvec, tvec = cv2.solvePnP(model, pts, camera, None, r0, t0, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise ValueError("solvePnP found no pose for these points")
    rvec, tvec = rvec.reshape(3), tvec.reshape(3)
    error = float(np.sqrt(((project(model, rvec, tvec, camera) - pts) ** 2).sum(axis=1).mean()))
    yaw, pitch, roll = angles_from_rotation(cv2.Rodrigues(rvec)[0])
    return HeadPose(yaw, pitch, roll, rvec, tvec, camera, error)


def draw_pose(image: np.ndarray, pose: HeadPose, length_mm: float = 60.0) -> np.ndarray:
    """Draw the head's axes (x red, y green, z blue towards the viewer) from the nose bridge, in place."""
    origin = face3d_reference()[IBUG68.anchors["nose_bridge"][0]]  # the top of the nose bridge, between the eyes
    ends = origin + np.array([[0, 0, 0], [length_mm, 0, 0], [0, -length_mm, 0], [0, 0, -length_mm]])
    p = project(ends, pose.rvec, pose.tvec, pose.camera)
    thickness = max(1, int(round(np.linalg.norm(p[1] - p[0]) / 25)))
    for end, colour in zip(p[1:], [(255, 0, 0), (0, 200, 0), (0, 0, 255)]):
        cv2.arrowedLine(image, _px(p[0]), _px(end), colour, thickness, cv2.LINE_AA, tipLength=0.15)
    return image


def _px(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def measure(points: np.ndarray, image: np.ndarray, layout: str) -> HeadPose:
    """The ``pose`` measure (see :mod:`facepoints.measures`)."""
    return head_pose(points, (image.shape[1], image.shape[0]), layout)
