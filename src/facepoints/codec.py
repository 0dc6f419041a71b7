"""The one path between images and a landmark model, shared by training, prediction, export and serving.

:class:`InputSpec` is a model's input contract (size, colour, crop mode, margin, keypoint
normalization), stored with every checkpoint and every ONNX export. :class:`LandmarkCodec` turns
(image, face box) into the model's input tensor (crop, colour, scaling to [0, 1]) and the model's
output (points in the normalized frame, confidences) back into image pixels, with the mirrored
pass and the model's point shift; training's ``Normalize`` uses the same pixel and keypoint
conversions. Nothing here needs PyTorch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from facepoints.geometry import resize_matrix, square_crop_matrix, warp_image
from facepoints.layouts import Layout, get_layout

__all__ = ["CROP_MODES", "EYE_CROP", "InputSpec", "KeypointNormalization", "LandmarkCodec", "eye_crops", "eye_matrix", "model_pixels"]

#: ``face``: a square crop around the face box with a margin; ``full``: the whole image resized;
#: ``rescale-crop``: ``full`` at inference, a rescale then a random crop in training (the Udacity
#: course project's ``Rescale(250) -> RandomCrop(227)``).
CROP_MODES = ("face", "full", "rescale-crop")
#: Older names of crop modes, still read from checkpoints and accepted on the command line.
CROP_ALIASES = {"seed": "rescale-crop"}
#: Side of the eye-state classifier's grey eye crops.
EYE_CROP = 48


@dataclass(frozen=True)
class KeypointNormalization:
    """``normalized = (pixels - centre) / scale``; stored with every model that uses it."""

    centre_x: float
    centre_y: float
    scale: float

    @classmethod
    def for_size(cls, width: int, height: int) -> KeypointNormalization:
        """Image edges -> about [-1, 1] (pixel centres at integers)."""
        return cls((width - 1) / 2, (height - 1) / 2, max(width, height) / 2)

    @classmethod
    def unit(cls, width: int, height: int) -> KeypointNormalization:
        """Image edges -> [0, 1] (for sigmoid outputs)."""
        return cls(-0.5, -0.5, float(max(width, height)))

    def forward(self, points: np.ndarray) -> np.ndarray:
        return ((np.asarray(points, np.float32) - (self.centre_x, self.centre_y)) / self.scale).astype(np.float32)

    def inverse(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float32) * self.scale + (self.centre_x, self.centre_y)).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> KeypointNormalization:
        return cls(float(data["centre_x"]), float(data["centre_y"]), float(data["scale"]))


@dataclass(frozen=True)
class InputSpec:
    """Input contract of a model: size (height, width), grey or RGB, crop mode and keypoint normalization."""

    size: tuple[int, int]
    grey: bool = True
    crop: str = "face"
    margin: float = 0.25
    box_shift: float = 0.08
    box_scale: float = 0.1
    output_range: str = "centered"

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", CROP_ALIASES.get(self.crop, self.crop))
        if self.crop not in CROP_MODES:
            raise ValueError(f"unknown crop mode {self.crop!r}; choose from {', '.join(CROP_MODES)}")
        if self.crop == "face" and self.size[0] != self.size[1]:
            raise ValueError(f"face crops are square; input size {self.size} is not")

    @property
    def channels(self) -> int:
        return 1 if self.grey else 3

    @property
    def normalization(self) -> KeypointNormalization:
        h, w = self.size
        return KeypointNormalization.unit(w, h) if self.output_range == "unit" else KeypointNormalization.for_size(w, h)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        data = dict(data)
        data["size"] = tuple(data["size"])
        return cls(**data)


def model_pixels(image: np.ndarray, grey: bool) -> np.ndarray:
    """An RGB uint8 crop as the model sees it: ``(C, H, W)`` float32 in [0, 1], grey or RGB."""
    if grey:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[None].astype(np.float32) / 255.0
    return image.transpose(2, 0, 1).astype(np.float32) / 255.0


class LandmarkCodec:
    """Encodes face boxes of images into a model batch and decodes the model's output into image pixels.

    ``flip_perm`` (the layout's left-right permutation) allows the mirrored pass; ``point_shift``
    (normalized units, the model's mean residual on its training faces) is added after it.
    """

    def __init__(self, spec: InputSpec, flip_perm: np.ndarray | None = None, point_shift: np.ndarray | float = 0.0) -> None:
        self.spec = spec
        self.flip_perm = None if flip_perm is None else np.asarray(flip_perm)
        self.shift = np.asarray(point_shift, np.float32) * spec.normalization.scale  # crop pixels

    def matrices(self, image: np.ndarray, boxes: np.ndarray, rolls: np.ndarray | None = None) -> list[np.ndarray]:
        """The 3x3 image -> input matrices: one per box (oriented boxes with ``rolls``, in degrees:
        the crops show the faces upright), or one for the whole image (non-face modes)."""
        h, w = self.spec.size
        if self.spec.crop != "face":
            return [resize_matrix((image.shape[1], image.shape[0]), (w, h))]
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        rolls = np.zeros(len(boxes)) if rolls is None else np.asarray(rolls, np.float64).reshape(-1)
        return [square_crop_matrix(box, h, self.spec.margin, float(roll)) for box, roll in zip(boxes, rolls, strict=True)]

    def encode(self, crops: list[np.ndarray], mirror: bool = False) -> np.ndarray:
        """Model-sized RGB crops -> the input batch ``(B, C, H, W)``, optionally mirrored."""
        images = [model_pixels(c[:, ::-1] if mirror else c, self.spec.grey) for c in crops]
        return np.ascontiguousarray(np.stack(images), dtype=np.float32)

    def crops(
        self, images: list[np.ndarray], owner: np.ndarray, boxes: np.ndarray, rolls: np.ndarray | None = None
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Model-sized crops of ``boxes[k]`` (turned by ``rolls[k]``) in ``images[owner[k]]`` and their matrices ``(B, 3, 3)``."""
        h, w = self.spec.size
        rolls = np.zeros(len(boxes)) if rolls is None else rolls
        crops, matrices = [], []
        for k, box, roll in zip(owner, boxes, rolls):
            for m in self.matrices(images[k], box[None], np.array([roll])):
                crops.append(warp_image(images[k], m, (w, h)))
                matrices.append(m)
        return crops, np.asarray(matrices).reshape(-1, 3, 3)

    def to_crop_pixels(self, points: np.ndarray) -> np.ndarray:
        """The model's normalized points -> crop pixels."""
        return self.spec.normalization.inverse(points)

    def merge_mirror(
        self, points: np.ndarray, confidence: np.ndarray, mirrored: np.ndarray, mirrored_confidence: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Average a pass with the pass on mirrored crops (both in crop pixels)."""
        if self.flip_perm is None:
            raise ValueError("this layout has no flip permutation: a mirrored pass is not possible")
        back = mirrored[:, self.flip_perm].copy()
        back[..., 0] = self.spec.size[1] - 1 - back[..., 0]
        return (points + back) / 2, (confidence + mirrored_confidence[:, self.flip_perm]) / 2

    def decode(self, points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
        """Crop-pixel points ``(B, N, 2)`` (after any mirrored pass) -> image pixels, with the point shift."""
        shifted = points + self.shift
        inverse = np.stack([cv2.invertAffineTransform(m[:2]) for m in matrices])  # (B, 2, 3): crop -> image
        return np.einsum("bij,bnj->bni", inverse[:, :, :2], shifted) + inverse[:, None, :, 2]


#: per eye of the subject: its outline anchor, its corner anchors from the image's left to its
#: right, and whether the crop is mirrored (so that both eyes have the outer corner on the left)
_EYES = {
    "right": ("right_eye", "right_eye_outer", "right_eye_inner", False),
    "left": ("left_eye", "left_eye_inner", "left_eye_outer", True),
}


def eye_matrix(
    points: np.ndarray, eye: str, layout: str | Layout = "ibug68", jitter: np.random.Generator | None = None
) -> np.ndarray:
    """2x3 matrix from image pixels to the 48 x 48 crop of the subject's ``eye`` ("right" or
    "left"): centred on its outline, levelled along its corners, the left eye mirrored."""
    lay = get_layout(layout)
    outline, first, second, mirror = _EYES[eye]
    lay.require_anchors(outline, first, second, purpose="the eye-state classifier")
    p = np.asarray(points, dtype=np.float64)
    centre, a, b = (lay.anchor_point(p, name) for name in (outline, first, second))
    width = float(np.linalg.norm(b - a))
    angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
    side = 2.0 * max(width, 1.0)
    if jitter is not None:  # like the landmark model's errors: shift, scale, tilt
        centre = centre + jitter.uniform(-0.12, 0.12, 2) * width
        side *= jitter.uniform(0.88, 1.12)
        angle += jitter.uniform(-8, 8)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, EYE_CROP / side)
    m[:, 2] += (EYE_CROP / 2 - centre[0], EYE_CROP / 2 - centre[1])
    if mirror:
        m = np.array([[-1.0, 0, EYE_CROP - 1], [0, 1, 0]]) @ np.vstack([m, [0, 0, 1]])
    return m


def eye_crops(
    image: np.ndarray, points: np.ndarray, jitter: np.random.Generator | None = None, layout: str | Layout = "ibug68"
) -> np.ndarray:
    """The two grey eye crops (2, 48, 48) uint8 of a face in a grey or RGB image: subject's right
    eye, then left (mirrored). Only the crops are converted to grey, never the whole image."""

    def crop(eye: str) -> np.ndarray:
        matrix = eye_matrix(points, eye, layout, jitter)
        return cv2.warpAffine(image, matrix, (EYE_CROP, EYE_CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    crops = [crop(eye) for eye in ("right", "left")]  # the right eye's jitter is drawn first
    return np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) if c.ndim == 3 else c for c in crops])
