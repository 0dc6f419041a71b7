"""Detection interface, prediction pipeline, the facade, file processing and evaluation."""

import json

import numpy as np
import pytest
import torch
from conftest import ASSETS, needs_shared
from PIL import Image

from facepoints.checkpoint import LoadedModel
from facepoints.cli.main import main
from facepoints.datasets import make_synthetic_sample, open_dataset
from facepoints.detection import Detections, FaceDetector, get_detector, list_detectors, register_detector
from facepoints.detection import base as detection_base
from facepoints.evaluation import evaluate_model
from facepoints.geometry import box_iou
from facepoints.export import SAMPLE_FACE_BOX
from facepoints.files import detect_files
from facepoints.inputs import InputSpec
from facepoints.landmarker import (
    BUNDLED_MODELS,
    Face,
    FaceLandmarker,
    default_model_path,
    resolve_model_path,
    sample_image_path,
)
from facepoints.layouts import IBUG68, ibug68_mean_shape
from facepoints.models import create_model
from facepoints.predict import Predictor, points_box
from facepoints.training import TrainingSet
from facepoints.transforms import square_crop_matrix, transform_points

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class CentreDetector(FaceDetector):
    """Reports one face in the middle third of any image (or none for a black image). Tests pass an
    instance, or register it by name with the ``centre_by_name`` fixture."""

    name = "test_centre"
    max_side = 100

    @classmethod
    def available(cls):
        return True

    def _detect(self, image):
        if image.max() == 0:
            return Detections.empty()
        h, w = image.shape[:2]
        self.seen = image.shape
        return Detections(np.array([[w / 3, h / 3, 2 * w / 3, 2 * h / 3]]) - 0.5, np.array([0.9]))


@pytest.fixture
def centre_by_name(monkeypatch):
    """``test_centre`` in the detector registry for one test only: registered into a copy of the
    registry that is put back afterwards (the command line takes detectors by name)."""
    monkeypatch.setattr(detection_base, "_DETECTORS", dict(detection_base._DETECTORS))
    register_detector(CentreDetector.name)(CentreDetector)


def mean_shape_model(size=64) -> LoadedModel:
    model = create_model("mean_shape", input_size=(size, size))
    shape = ibug68_mean_shape() * 0.5 + [0, -0.1]
    model.mean.copy_(torch.from_numpy(shape))
    return LoadedModel(model.eval(), "ibug68", InputSpec(size=(size, size)), {"model": {"name": "mean_shape"}})


def test_detector_downscales_large_images_and_maps_boxes_back(centre_by_name):
    detector = get_detector("test_centre", min_face=None)
    assert isinstance(detector, CentreDetector) and "test_centre" in list_detectors()
    image = np.full((600, 900, 3), 50, np.uint8)
    found = detector.detect(image)
    assert detector.seen[:2] == (67, 100)  # worked on a copy no larger than max_side
    assert np.allclose(found.boxes[0], np.array([300, 200, 600, 400]) - 0.5, atol=3)
    assert len(detector.detect(np.zeros((40, 40, 3), np.uint8))) == 0
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detector.detect(np.zeros((40, 40), np.uint8))
    with pytest.raises(KeyError, match="unknown face detector"):
        get_detector("nope")
    assert "haar" in list_detectors(available_only=True)


def test_predictor_maps_crop_points_back_to_the_image():
    loaded = mean_shape_model()
    predictor = Predictor(loaded, refine=0)
    image = np.zeros((300, 400, 3), np.uint8)
    boxes = np.array([[100.0, 50.0, 180.0, 150.0], [250.0, 120.0, 330.0, 200.0]])
    results = predictor.predict(image, boxes)
    assert len(results) == 2
    crop_pts = loaded.input.normalization.inverse(loaded.model.mean.numpy())
    for box, r in zip(boxes, results):
        expected = transform_points(np.linalg.inv(square_crop_matrix(box, 64, loaded.input.margin)), crop_pts)
        assert np.allclose(r.points, expected, atol=1e-3)
        assert r.points.shape == (68, 2) and 0 <= r.score <= 1
    assert predictor.predict(image, np.zeros((0, 4))) == []


def test_predictor_flip_averages_a_mirrored_pass():
    loaded = mean_shape_model()
    flipped = Predictor(loaded, refine=0, flip=True).predict(np.zeros((100, 100, 3), np.uint8), [[20, 20, 80, 80]])[0]
    plain = Predictor(loaded, refine=0).predict(np.zeros((100, 100, 3), np.uint8), [[20, 20, 80, 80]])[0]
    # a constant model: the mirrored pass gives the mirror image of its shape, permuted back
    centre_x = (plain.points[:, 0].min() + plain.points[:, 0].max()) / 2
    assert not np.allclose(flipped.points, plain.points)
    sym = (flipped.points - [centre_x, 0]) * [-1, 1] + [centre_x, 0]
    assert np.allclose(sym[IBUG68.require_flip()][:, 1], flipped.points[:, 1], atol=1e-3)


@pytest.mark.parametrize("flip", [False, True])
def test_predictor_adds_the_point_shift_after_the_mirrored_pass(flip):
    shift = np.zeros((68, 2), np.float32)
    shift[:, 0], shift[36, 1] = 0.05, -0.1  # every point right by 5 % of the half crop, one point up
    image, box = np.zeros((100, 100, 3), np.uint8), [[20, 20, 80, 80]]
    plain = Predictor(mean_shape_model(), refine=0, flip=flip).predict(image, box)[0]
    shifted_model = mean_shape_model()
    shifted_model.meta["point_shift"] = shift.tolist()
    shifted = Predictor(shifted_model, refine=0, flip=flip).predict(image, box)[0]
    half_crop = 60 * 1.5 / 2  # the crop's half side in image pixels (box 60, margin 25 % each side)
    assert np.allclose(shifted.points - plain.points, shift * half_crop, atol=1e-3)


def test_refinement_recentres_on_the_landmarks():
    loaded = mean_shape_model()
    image = np.zeros((200, 200, 3), np.uint8)
    once = Predictor(loaded, refine=0).predict(image, [[40, 40, 140, 140]])[0]
    twice = Predictor(loaded, refine=1).predict(image, [[40, 40, 140, 140]])[0]
    assert np.allclose(twice.box, points_box(once.points), atol=1e-3)


BUNDLED_FILES = sorted({resolve_model_path(name) for name in BUNDLED_MODELS})


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.stem)
def test_bundled_model_is_self_describing(path):
    predictor = Predictor(path)
    assert predictor.layout.name == "ibug68" and predictor.spec.crop == "face"
    sample = make_synthetic_sample(0, 200)
    box = points_box(sample.keypoints)
    result = predictor.predict(sample.image, [box])[0]
    assert result.points.shape == (68, 2) and np.isfinite(result.points).all()


def test_landmarker_and_face_json():
    assert "test_centre" not in list_detectors()  # registered for its own tests only
    landmarker = FaceLandmarker(CentreDetector())
    faces = landmarker.detect(np.full((120, 160, 3), 90, np.uint8))
    assert len(faces) == 1 and isinstance(faces[0], Face)
    d = faces[0].to_dict()
    assert d["layout"] == "ibug68" and len(d["points"]) == 68 and len(d["box"]) == 4
    assert landmarker.detect(np.zeros((50, 50, 3), np.uint8)) == []


def test_detect_files_folder_jsonl_resume_and_bad_images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(make_synthetic_sample(k, 96).image).save(folder / f"f{k}.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "black.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    landmarker = FaceLandmarker(CentreDetector())
    out = tmp_path / "out"
    first = list(detect_files([folder], landmarker, out, progress=False))
    assert len(first) == 5
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    assert {Path_name(x["image"]) for x in lines if "error" in x} == {"broken.jpg"}
    assert [len(x["faces"]) for x in lines if Path_name(x["image"]) == "black.png"] == [0]
    assert (out / "f1.landmarks.png").is_file()
    second = list(detect_files([folder], landmarker, out, progress=False))
    assert all(r.skipped for r in second)  # a rerun skips what is done
    assert len((out / "results.jsonl").read_text().splitlines()) == 5


def Path_name(p):
    return p.rsplit("/", 1)[-1]


def test_cli_detect_default_sample_and_errors(tmp_path, capsys, centre_by_name):
    assert main(["detect", "--out", str(tmp_path), "--detector", "test_centre", "--no-progress"]) == 0
    stem = sample_image_path().stem
    doc = json.loads((tmp_path / f"{stem}.landmarks.json").read_text())
    assert doc["width"] == 512 and len(doc["faces"]) == 1 and len(doc["faces"][0]["points"]) == 68
    assert (tmp_path / f"{stem}.landmarks.png").is_file()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "black.png")
    assert main(["detect", str(tmp_path / "black.png"), "--out", str(tmp_path), "--detector", "test_centre"]) == 0
    assert "no face found" in capsys.readouterr().err
    (tmp_path / "bad.png").write_text("text")
    assert main(["detect", str(tmp_path / "bad.png"), "--out", str(tmp_path)]) == 3
    assert main(["detect", str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 1


def test_evaluate_with_gt_boxes_on_synthetic_data():
    ds = open_dataset("synthetic:6")
    predictor = Predictor(mean_shape_model(), refine=0)
    result = evaluate_model(predictor, ds, progress=False)
    assert result.detection_rate == 1.0 and result.report.count == 6
    by_hand = []  # each face from its landmark box: mean point error over the outer eye corners' distance
    for s in ds:
        (r,) = predictor.predict(s.image, [points_box(s.keypoints)])
        eyes = np.linalg.norm(s.keypoints[45] - s.keypoints[36])
        by_hand.append(np.linalg.norm(r.points - s.keypoints, axis=1).mean() / eyes)
    assert result.report.nme == pytest.approx(np.mean(by_hand), rel=1e-5)
    # the model's shrunk, raised shape (NME 0.31) against the mean of these faces' own crops (0.12)
    fitted = mean_shape_model()
    crops = TrainingSet(ds, fitted.input, False, progress=False)
    fitted.model.mean.copy_(torch.stack([crops[i]["keypoints"] for i in range(len(crops))]).mean(0))
    assert evaluate_model(Predictor(fitted, refine=0), ds, progress=False).report.nme < 0.5 * result.report.nme
    assert box_iou(np.array([[0, 0, 10, 10], [5, 5, 15, 15]]), np.array([0, 0, 10, 10])).tolist() == pytest.approx([1, 25 / 175])


def test_evaluate_scores_each_source_of_a_mixed_dataset():
    ds = open_dataset(["synthetic:4@1", "synthetic:3@2"])
    result = evaluate_model(Predictor(mean_shape_model(), refine=0), ds, progress=False)
    parts = result.by_origin
    assert list(parts) == ["synthetic:4@1", "synthetic:3@2"] and [p.count for p in parts.values()] == [4, 3]
    assert result.report.nme == pytest.approx(sum(p.count * p.nme for p in parts.values()) / 7)
    assert set(result.summary()["by_origin"]) == set(parts)
    assert evaluate_model(Predictor(mean_shape_model(), refine=0), ds.subset([0, 1]), progress=False).by_origin == {}


def test_cli_evaluate_takes_bundled_names(capsys):
    assert main(["evaluate", "--model", "fast", "--data", "synthetic:3", "--no-progress"]) == 0
    assert "model fpnet on synthetic" in capsys.readouterr().out


@needs_shared
@pytest.mark.parametrize("name, count", [pytest.param("the_beatles.jpg", 4, marks=pytest.mark.slow), ("obamas.jpg", 2)])
def test_demo_photos_find_every_face(name, count):
    faces = FaceLandmarker().detect(ASSETS / name)
    assert len(faces) == count
    for face in faces:  # landmarks sit inside (or near) their face box
        x1, y1, x2, y2 = face.box
        w = x2 - x1
        inside = (face.points[:, 0] > x1 - 0.3 * w) & (face.points[:, 0] < x2 + 0.3 * w)
        assert inside.mean() > 0.95


@pytest.mark.parametrize("name", ["fpnet", "kaggle_cnn", "face_cnn", "naimishnet", "mean_shape"])
def test_onnx_export_matches_pytorch(tmp_path, name):
    from facepoints.export import check_parity, export_onnx

    model = create_model(name).eval()
    size = model.input_size
    crop = "face" if size[0] == size[1] and model.num_points == 68 else "full"
    loaded = LoadedModel(model, "ibug68" if model.num_points == 68 else "kaggle15", InputSpec(size=size, crop=crop), {})
    path = export_onnx(loaded, tmp_path / f"{name}.onnx")
    assert check_parity(loaded, path) < 1e-4


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.stem)
def test_bundled_onnx_and_torch_backends_agree(path):
    sample = make_synthetic_sample(3, 180)
    box = points_box(sample.keypoints)
    onnx = Predictor(path, backend="onnx").predict(sample.image, [box, box + 3])
    torch_ = Predictor(path, backend="torch").predict(sample.image, [box, box + 3])
    for a, b in zip(onnx, torch_):  # 0.05 px: a near tie of two grid cells decodes through either offset
        assert np.abs(a.points - b.points).max() < 0.05
    with pytest.raises(ValueError, match="unknown backend"):
        Predictor(default_model_path(), backend="tpu")


def test_cli_export(tmp_path, capsys):
    assert main(["export", "--model", "default", "--out", str(tmp_path / "m.onnx"), "--dynamic-batch"]) == 0
    assert "max |onnx - torch|" in capsys.readouterr().out and (tmp_path / "m.onnx").is_file()


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.stem)
def test_int8_backend_is_the_default_and_close_to_float(path):
    image = np.asarray(Image.open(sample_image_path()).convert("RGB"))
    box = list(SAMPLE_FACE_BOX)
    auto = Predictor(path)
    assert auto.backend == "int8"
    (q,) = auto.predict(image, [box])
    (f,) = Predictor(path, backend="onnx").predict(image, [box])
    eye = np.linalg.norm(f.points[45] - f.points[36])
    assert np.linalg.norm(q.points - f.points, axis=1).mean() < 0.02 * eye  # int8 moves points by < 2 % of the eye distance


def test_colour_default_model_is_at_home_on_grey_photos():
    """The default model reads colour crops; trained with random greyscale, it places the points of
    a grey copy of the photo within 3 % of the eye distance of the colour photo's."""
    photo = Image.open(sample_image_path())
    predictor = Predictor(default_model_path())
    assert predictor.spec.channels == 3
    (colour,) = predictor.predict(np.asarray(photo.convert("RGB")), [list(SAMPLE_FACE_BOX)])
    (grey,) = predictor.predict(np.asarray(photo.convert("L").convert("RGB")), [list(SAMPLE_FACE_BOX)])
    eye = np.linalg.norm(colour.points[45] - colour.points[36])
    assert np.linalg.norm(grey.points - colour.points, axis=1).mean() < 0.03 * eye


def test_predict_batch_matches_image_by_image():
    samples = [make_synthetic_sample(k, 160) for k in range(3)]
    boxes = [points_box(s.keypoints) for s in samples]
    predictor = Predictor(default_model_path(), backend="onnx", refine=1)
    batched = predictor.predict_batch([s.image for s in samples], [[b] for b in boxes])
    for s, b, got in zip(samples, boxes, batched):
        (alone,) = predictor.predict(s.image, [b])
        assert np.abs(got[0].points - alone.points).max() < 1e-3
    assert predictor.predict_batch([samples[0].image], [[]]) == [[]]


def test_detectors_choose_their_refinement_passes():
    assert FaceLandmarker(detector="haar").predictor.refine == 1
    assert FaceLandmarker(detector="haar", refine=0).predictor.refine == 0
    if "yunet" in list_detectors():
        predictor = FaceLandmarker(detector="yunet").predictor
        assert predictor.refine == 1 and predictor.refine_below == 0.7


def test_refinement_only_for_unsure_faces():
    sample = make_synthetic_sample(2, 160)
    box = points_box(sample.keypoints)
    boxes = [box, box + [20, 0, 20, 0]]
    everyone = Predictor(default_model_path(), refine=1, backend="onnx")
    nobody = Predictor(default_model_path(), refine=1, backend="onnx", refine_below=0.0)
    first = Predictor(default_model_path(), refine=0, backend="onnx").predict(sample.image, boxes)
    for a, b in zip(nobody.predict(sample.image, boxes), first):
        assert np.array_equal(a.points, b.points)  # no face below a zero threshold: one pass only
    threshold = (first[0].score + first[1].score) / 2  # exactly one face is unsure
    some = Predictor(default_model_path(), refine=1, backend="onnx", refine_below=threshold).predict(sample.image, boxes)
    full = everyone.predict(sample.image, boxes)
    unsure = int(np.argmin([r.score for r in first]))
    assert np.allclose(some[unsure].points, full[unsure].points, atol=1e-4)
    assert np.array_equal(some[1 - unsure].points, first[1 - unsure].points)


@pytest.mark.slow
def test_cli_export_int8_and_backend_errors(tmp_path, capsys):
    from facepoints.checkpoint import model_record, save_checkpoint

    model = create_model("fpnet", input_size=(64, 64)).eval()
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, {"model": model_record(model, "fpnet"),
                           "layout": "ibug68", "input": InputSpec(size=(64, 64)).to_dict(), "state_dict": model.state_dict()})  # fmt: skip
    with pytest.raises(ValueError, match="int8"):
        Predictor(ckpt, backend="int8")
    calibration = ["--int8", "synthetic:12@1", "synthetic:6@2", "--calibration-faces", "8"]
    assert main(["export", "--model", str(ckpt), *calibration]) == 0
    assert (tmp_path / "tiny.int8.onnx").is_file()
    assert "calibrated on 8 faces of synthetic:12@1, synthetic:6@2" in capsys.readouterr().out  # 4 from each
    predictor = Predictor(ckpt)
    assert predictor.backend == "int8"
    sample = make_synthetic_sample(1, 128)
    (r,) = predictor.predict(sample.image, [[30, 30, 100, 100]])
    assert r.points.shape == (68, 2) and np.isfinite(r.points).all()


def test_calibration_samples_take_equal_shares_spread_over_each_dataset():
    from facepoints.export import calibration_samples

    samples = calibration_samples(["synthetic:12@1", "synthetic:6@2"], faces=6)
    seeds = [int(str(s.path).rpartition("#")[2]) for s in samples]
    assert seeds == [100_003 + i for i in (0, 4, 8)] + [200_006 + i for i in (0, 2, 4)]
