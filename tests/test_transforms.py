"""Transforms move keypoints exactly with the pixels, and can be undone."""

import cv2
import numpy as np
import pytest
import torch

from facepoints.datasets import Sample, make_synthetic_sample
from facepoints.layouts import IBUG68
from facepoints.transforms import (
    AUGMENT_PRESETS,
    CenterCrop,
    ColorJitter,
    Compose,
    FaceCrop,
    GaussianBlur,
    GaussianNoise,
    KeypointNormalization,
    Normalize,
    PoissonNoise,
    RandomCrop,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomOcclusion,
    RandomRotation,
    RandomScale,
    RandomTranslate,
    Rescale,
    SaltPepperNoise,
    augmentation,
    crop_face,
    hflip_matrix,
    keypoint_box,
    sample_rng,
    seed_test_transform,
    seed_train_transform,
    warp,
)
from facepoints.geometry import _prefilter
from facepoints.viz import fit_to_tile

# A left/right symmetric set of well-separated points: the flip permutation maps it onto itself.
DOTS = [0, 16, 8, 19, 24, 30, 36, 45, 48, 54]


def dot_sample(h=240, w=300, sigma=2.5, seed=0) -> Sample:
    """Black image with a bright Gaussian dot under each DOTS keypoint of a random face."""
    base = make_synthetic_sample(seed, size=min(h, w))
    pts = base.keypoints + [(w - min(h, w)) / 2, 0]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w), np.float64)
    for i in DOTS:
        img += np.exp(-((xx - pts[i, 0]) ** 2 + (yy - pts[i, 1]) ** 2) / (2 * sigma**2))
    grey = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return Sample(np.repeat(grey[:, :, None], 3, 2), pts, np.ones(68, bool), "ibug68")


def assert_dots_follow(sample: Sample, tol: float = 1.0) -> int:
    """Every DOTS keypoint inside the image sits on a dot: brightness-weighted centroid within ``tol`` px."""
    grey = sample.image[..., 0].astype(np.float64)
    h, w = grey.shape
    scale = float(np.sqrt(abs(np.linalg.det(sample.affine[:2, :2]))))
    pts = sample.keypoints[DOTS]
    gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(len(DOTS)) * 1e9
    r = min(max(2, int(np.ceil(3 * 2.5 * scale))), int(gaps.min() / 2))  # never reach into a neighbour's dot
    checked = 0
    for i in DOTS:
        x, y = sample.keypoints[i]
        if not (r <= x < w - r and r <= y < h - r):
            continue
        x0, y0 = int(round(x)), int(round(y))
        win = grey[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1]
        win = np.clip(win - 0.2 * win.max(), 0, None)
        assert win.sum() > 0, f"no dot under point {i} at ({x:.1f}, {y:.1f})"
        yy, xx = np.mgrid[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1]
        cx, cy = (win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()
        err = np.hypot(cx - x, cy - y)
        assert err <= tol, f"point {i}: dot centroid ({cx:.2f}, {cy:.2f}) is {err:.2f} px from keypoint ({x:.2f}, {y:.2f})"
        checked += 1
    return checked


GEOMETRIC = [
    Rescale((250, 250)),
    Rescale(96),
    Rescale((60, 80)),  # strong downscale: the area pre-filter path
    RandomCrop((200, 220)),
    CenterCrop((180, 200)),
    RandomRotation(180),
    RandomHorizontalFlip(p=1.0),
    RandomScale(0.5, 1.6),
    RandomTranslate(0.2),
    FaceCrop(128, margin=0.3, shift=0.1, scale=0.2),
    Compose([RandomHorizontalFlip(1.0), RandomRotation(40), RandomScale(0.8, 1.2), FaceCrop(112, 0.25, 0.05, 0.1)]),
    augmentation("strong"),
]


@pytest.mark.parametrize("transform", GEOMETRIC, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("seed", range(4))
def test_dots_stay_under_keypoints(transform, seed):
    src = dot_sample(seed=seed)
    # photometric steps would corrupt the dots; check geometry of the strong preset with them removed
    if isinstance(transform, Compose) and any(type(t).__module__.endswith("photometric") for t in transform.transforms):
        transform = Compose([t for t in transform.transforms if not type(t).__module__.endswith("photometric")])
    out = transform(src, sample_rng(seed, 0, 0))
    assert out.image.dtype == np.uint8 and out.image.ndim == 3
    assert assert_dots_follow(out) >= 2


def test_upscaling_is_exact_to_a_fraction_of_a_pixel():
    """Sensitive to the half-pixel convention: a resize that maps x -> s * x is off by (s - 1) / 2 px."""
    src = dot_sample(h=90, w=120, sigma=1.2)
    assert assert_dots_follow(Rescale((360, 480))(src), tol=0.35) >= 6


def test_strongly_shrunk_crop_of_a_large_image_shrinks_only_what_it_sees():
    """A small crop of a large image area-averages only the part it sees (not the whole photo): the dots
    still follow the points, and the pixels match those of shrinking the whole image first."""
    src = dot_sample(h=900, w=1400, sigma=8)
    out = FaceCrop(64, margin=0.25)(src, sample_rng(0, 0, 0))
    assert assert_dots_follow(out, tol=0.5) >= 6
    whole, m = _prefilter(src.image, out.affine)  # no output size: the whole image is shrunk
    reference = cv2.warpAffine(whole, m[:2], (64, 64), flags=cv2.INTER_LINEAR)
    assert np.abs(out.image.astype(int) - reference).max() <= 12
    assert np.abs(out.image.astype(float) - reference).mean() <= 0.5


def test_fit_to_tile_keeps_dots():
    assert assert_dots_follow(fit_to_tile(dot_sample(h=400, w=700), 256)) >= 6


def test_flip_twice_is_identity():
    s = make_synthetic_sample(3, 128)
    twice = RandomHorizontalFlip(1.0)(RandomHorizontalFlip(1.0)(s, np.random.default_rng(0)), np.random.default_rng(0))
    assert np.array_equal(twice.image, s.image)
    assert np.allclose(twice.keypoints, s.keypoints) and not twice.flipped
    once = RandomHorizontalFlip(1.0)(s, np.random.default_rng(0))
    assert once.flipped
    # the subject's left eye (42-47) is still on the image's right after a mirror
    assert once.keypoints[42:48, 0].mean() > once.keypoints[36:42, 0].mean()
    assert np.allclose(once.keypoints[45], [127 - s.keypoints[36, 0], s.keypoints[36, 1]])


def test_flip_refuses_layouts_without_permutation():
    from facepoints.layouts import Layout, register_layout

    register_layout(Layout("test_noflip", ("a", "b"), {"all": (0, 1)}))
    s = Sample(np.zeros((8, 8, 3), np.uint8), [[1, 1], [2, 2]], [True, True], "test_noflip")
    with pytest.raises(ValueError, match="no horizontal-flip permutation"):
        warp(s, hflip_matrix(8), (8, 8))


def test_crop_then_inverse_returns_original_points():
    s = make_synthetic_sample(1, 300)
    crop = crop_face(s, keypoint_box(s), 96, margin=0.3)
    assert np.abs(crop.keypoints).max() < 96
    assert np.allclose(crop.to_original(crop.keypoints), s.keypoints, atol=1e-3)
    chain = Compose([RandomHorizontalFlip(1.0), RandomRotation(90), FaceCrop(64, 0.2, 0.1, 0.1)])
    out = chain(s, np.random.default_rng(0))
    assert out.flipped
    assert np.allclose(out.to_original(out.keypoints), s.keypoints, atol=1e-3)


def test_face_crop_box_maps_to_the_expected_square():
    s = make_synthetic_sample(2, 200)
    box = (50.0, 60.0, 110.0, 100.0)  # 60 wide, 40 tall -> square side 60 * 1.5 = 90 centred at (80, 80)
    crop = crop_face(s, box, 90, margin=0.25)
    corners = crop.to_original(np.array([[-0.5, -0.5], [89.5, 89.5]]))
    assert np.allclose(corners, [[35, 35], [125, 125]], atol=1e-4)
    with pytest.raises(ValueError, match="degenerate"):
        crop_face(s, (10, 10, 10, 20), 32)


def test_seed_pipelines_shapes_and_invertible_normalization():
    s = make_synthetic_sample(4, 180)
    train = seed_train_transform()(s, np.random.default_rng(0))
    test = seed_test_transform()(s)
    for out in (train, test):
        assert out["image"].shape == (1, 227, 227) and out["image"].dtype == torch.float32
        assert 0 <= float(out["image"].min()) and float(out["image"].max()) <= 1
        assert out["keypoints"].shape == (68, 2) and out["mask"].dtype == torch.bool
        assert float(out["keypoints"].abs().max()) < 1.2
    norm = Normalize((227, 227)).normalization
    back = norm.inverse(test["keypoints"].numpy())
    expected = Rescale((227, 227))(s).keypoints
    assert np.allclose(back, expected, atol=1e-4)
    assert KeypointNormalization.from_dict(norm.to_dict()) == norm
    with pytest.raises(ValueError, match="expects a 227x227 image"):
        Normalize((227, 227))(s)
    with pytest.raises(ValueError, match="larger than the image"):
        RandomCrop((500, 500))(s, np.random.default_rng(0))


PHOTOMETRIC = [
    ColorJitter(p=1.0),
    GaussianBlur(p=1.0),
    GaussianNoise(p=1.0),
    PoissonNoise(p=1.0),
    SaltPepperNoise(0.05, p=1.0),
    RandomGrayscale(p=1.0),
    RandomOcclusion(p=1.0),
]


@pytest.mark.parametrize("transform", PHOTOMETRIC, ids=lambda t: type(t).__name__)
def test_photometric_changes_pixels_not_points(transform):
    s = make_synthetic_sample(5, 128)
    out = transform(s, np.random.default_rng(1))
    assert out.image.shape == s.image.shape and out.image.dtype == np.uint8
    assert not np.array_equal(out.image, s.image)
    assert np.array_equal(out.keypoints, s.keypoints) and np.array_equal(out.affine, s.affine)
    if isinstance(transform, RandomGrayscale):
        assert (out.image[..., 0] == out.image[..., 1]).all()


@pytest.mark.parametrize("preset", sorted(AUGMENT_PRESETS))
def test_presets_are_reproducible_and_keep_points_on_the_face(preset):
    s = make_synthetic_sample(6, 160)
    a = augmentation(preset)(s, sample_rng(1, 2, 3))
    b = augmentation(preset)(s, sample_rng(1, 2, 3))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
    assert np.allclose(a.to_original(a.keypoints), s.keypoints, atol=1e-3)
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        augmentation("extreme")


def test_masked_points_follow_the_permutation():
    s = make_synthetic_sample(7, 100)
    s.mask[IBUG68.index("right_eye_0")] = False  # point 36
    out = RandomHorizontalFlip(1.0)(s, np.random.default_rng(0))
    assert not out.mask[45] and out.mask[36]
