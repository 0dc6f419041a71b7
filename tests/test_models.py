"""Every registry model: output shape, a forward/backward pass, and a parameter count computed by hand."""

import math

import pytest
import torch

from facepoints.models import count_parameters, create_model, list_models, model_info
from facepoints.training.losses import get_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def dense(cin, cout):
    return cin * cout + cout


def bn(c):
    return 2 * c


def resnet18_params(cin, points):
    total = conv(cin, 64, 7, False) + bn(64)
    prev = 64
    for width in (64, 128, 256, 512):
        for block in range(2):
            c_in = prev if block == 0 else width
            total += conv(c_in, width, 3, False) + bn(width) + conv(width, width, 3, False) + bn(width)
            if block == 0 and c_in != width:
                total += conv(c_in, width, 1, False) + bn(width)
        prev = width
    return total + dense(512, 2 * points)


def fpnet_params(cin, points, widths=(16, 24, 32, 64, 96, 128), context_blocks=0):
    def cbn(a, b, k=1, groups=1):
        return a // groups * b * k * k + bn(b)

    def ir(a, b, t=4):
        m = a * t
        return cbn(a, m) + cbn(m, m, 3, m) + cbn(m, b)

    def stage(a, b, n):
        return ir(a, b) + (n - 1) * ir(b, b)

    c = widths
    total = cbn(cin, c[0], 3) + cbn(c[0], c[0], 3, c[0])
    total += stage(c[0], c[1], 2) + stage(c[1], c[2], 3) + stage(c[2], c[3], 3) + stage(c[3], c[4], 3) + stage(c[4], c[5], 2)
    total += context_blocks * ir(c[5], c[5])
    total += cbn(c[5], c[3]) + cbn(c[3], c[3], 3, c[3]) + cbn(c[3], c[5])
    return total + conv(c[5], 3 * points, 1)


EXPECTED = {
    # naimishnet: 96 -> conv4 93 -> pool 46 -> conv3 44 -> 22 -> conv2 21 -> 10 -> conv1 10 -> 5
    "naimishnet": conv(1, 32, 4) + conv(32, 64, 3) + conv(64, 128, 2) + conv(128, 256, 1)
    + dense(256 * 5 * 5, 1000) + dense(1000, 1000) + dense(1000, 30),
    # alexnet_fkp: 227 -> conv1 56 -> pool 27 -> conv2 27 -> pool 13 -> conv3-5 13 -> pool 6: 6*6*256 = 9216
    "alexnet_fkp": conv(1, 96, 4) + conv(96, 256, 5) + bn(256) + conv(256, 384, 3) + bn(384) + conv(384, 384, 3)
    + bn(384) + conv(384, 256, 3) + bn(256) + dense(9216, 4096) + bn(4096) + dense(4096, 4096) + bn(4096)
    + dense(4096, 136),
    # kaggle_cnn: 96 -> 48 -> 24 -> 12 -> 6 -> 3
    "kaggle_cnn": conv(1, 32, 3) + conv(32, 64, 3) + conv(64, 128, 3) + conv(128, 256, 3) + conv(256, 512, 3)
    + dense(512 * 3 * 3, 500) + dense(500, 100) + dense(100, 30),
    # kaggle_cnn_bn: pairs of 5x5 and 3x3 without bias, 4 pools: 96 -> 6
    "kaggle_cnn_bn": sum(
        conv(a, w, 5, False) + bn(w) + conv(w, w, 3, False) + bn(w)
        for a, w in ((1, 32), (32, 64), (64, 128), (128, 256), (256, 512))
    )
    + dense(512 * 6 * 6, 512) + dense(512, 30),
    # nosetip_cnn: 60x80 -> 30x40 -> 15x20 -> 7x10
    "nosetip_cnn": conv(1, 12, 5) + conv(12, 24, 3) + conv(24, 32, 3) + dense(32 * 7 * 10, 128) + dense(128, 2),
    # face_cnn: 120x160 -> 60x80 -> 30x40 -> 15x20 -> 7x10 -> 3x5
    "face_cnn": conv(1, 16, 7) + conv(16, 32, 5) + conv(32, 48, 3) + conv(48, 64, 3) + conv(64, 96, 3)
    + dense(96 * 3 * 5, 256) + dense(256, 136),
    "resnet18": resnet18_params(1, 68),
    "mlp_baseline": dense(96 * 96, 500) + dense(500, 100) + dense(100, 30),
    "mean_shape": 0,
    "fpnet": fpnet_params(1, 68),
}


def test_every_registered_model_has_an_expected_count():
    assert set(list_models()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_count_by_hand(name):
    assert count_parameters(create_model(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_forward_backward_and_shape(name):
    info = model_info(name)
    model = create_model(name)
    x = torch.rand(2, info.in_channels, *info.input_size)
    out = model.eval()(x)
    assert out.shape == (2, info.num_points, 2) and torch.isfinite(out).all()
    model.train()
    target = torch.rand(2, info.num_points, 2) * 1.2 - 0.6 if model.output_range == "centered" else torch.rand(2, info.num_points, 2)
    mask = torch.ones(2, info.num_points, dtype=torch.bool)
    loss, pred = model.compute_loss(x, target, mask, get_loss("mse"))
    assert pred.shape == (2, info.num_points, 2) and loss.ndim == 0
    if count_parameters(model):
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("name, cin, points", [("resnet18", 3, 68), ("fpnet", 3, 15), ("kaggle_cnn_bn", 1, 4)])
def test_channel_and_point_options(name, cin, points):
    model = create_model(name, num_points=points, in_channels=cin)
    out = model.eval()(torch.rand(1, cin, *model.input_size))
    assert out.shape == (1, points, 2)
    if name == "resnet18":
        assert count_parameters(model) == resnet18_params(3, 68)
    if name == "kaggle_cnn_bn":  # the write-up's 8-output model
        assert model.head[-1].out_features == 8


@pytest.mark.parametrize("width, context_blocks", [(1.5, 0), (1.0, 3), (1.5, 3)])
def test_fpnet_width_and_context_blocks(width, context_blocks):
    """The bundled models' options: channel widths scale, context blocks add 1/16-scale blocks; the output is unchanged in shape."""
    model = create_model("fpnet", width=width, context_blocks=context_blocks)
    widths = tuple(max(8, round(v * width)) for v in (16, 24, 32, 64, 96, 128))
    assert count_parameters(model) == fpnet_params(1, 68, widths, context_blocks)
    assert model.eval()(torch.rand(1, 1, 112, 112)).shape == (1, 68, 2)


def test_fpnet_decodes_its_own_targets_exactly():
    """Scores peaked at the target cell and offsets of its 3 x 3 neighbourhood set to the target's
    position, as training fits them, decode back, also in a corner cell whose neighbours leave the grid."""
    model = create_model("fpnet", num_points=4).eval()
    targets = torch.tensor([[[-0.5, 0.25], [0.1, -0.7], [0.83, 0.4], [-0.99, 0.98]]])
    h, w = model.input_size
    half = w / 2
    u = (targets[..., 0] * half + (w - 1) / 2 + 0.5) / model.stride
    v = (targets[..., 1] * half + (h - 1) / 2 + 0.5) / model.stride
    g = h // model.stride
    scores = torch.zeros(1, 4, g, g)
    ox, oy = torch.zeros_like(scores), torch.zeros_like(scores)
    for k in range(4):
        r, c = int(v[0, k]), int(u[0, k])
        scores[0, k, r, c] = 10
        for rr in range(max(r - 1, 0), min(r + 2, g)):
            for cc in range(max(c - 1, 0), min(c + 2, g)):
                ox[0, k, rr, cc], oy[0, k, rr, cc] = u[0, k] - cc, v[0, k] - rr
    points, conf = model.decode(scores, ox, oy)
    assert torch.allclose(points, targets, atol=1e-5)
    assert (conf > 0.9).all()


def test_fpnet_decoding_weighs_the_neighbours_by_score():
    """Two neighbouring cells with equal scores that predict different places decode between them."""
    model = create_model("fpnet", num_points=1).eval()
    g = model.input_size[0] // model.stride
    scores = torch.full((1, 1, g, g), -30.0)
    scores[0, 0, 5, 5] = scores[0, 0, 5, 6] = 10
    ox, oy = torch.zeros_like(scores), torch.full_like(scores, 0.5)
    ox[0, 0, 5, 5], ox[0, 0, 5, 6] = 0.5, 0.7  # columns 5.5 and 6.7
    points, _ = model.decode(scores, ox, oy)
    column = (points[0, 0, 0] * model.input_size[1] / 2 + (model.input_size[1] - 1) / 2 + 0.5) / model.stride
    assert column.item() == pytest.approx(6.1, abs=1e-4)


def test_fpnet_gaussian_cell_targets():
    """With ``target_sigma`` the score target is a normalized Gaussian over the cell centres that
    peaks at the cell holding the point and is mirror-symmetric about a point on a cell centre;
    without it, the cell's index (one-hot cross-entropy)."""
    soft = create_model("fpnet", num_points=2, target_sigma=0.75)
    u, v = torch.tensor([[3.2, 7.5]]), torch.tensor([[5.9, 2.5]])  # grid coordinates
    row, col = v.floor().long(), u.floor().long()
    q = soft._cell_targets(u, v, row, col, 14, 14)
    assert q.shape == (2, 196) and torch.allclose(q.sum(-1), torch.ones(2))
    assert q.argmax(-1).tolist() == (row * 14 + col).reshape(-1).tolist()
    grid = q[1].reshape(14, 14)  # the point sits on cell (2, 7)'s centre
    assert torch.allclose(grid[2, 6], grid[2, 8]) and torch.allclose(grid[1, 7], grid[3, 7])
    assert float(grid[2, 6]) == pytest.approx(float(grid[2, 7]) * math.exp(-1 / (2 * 0.75**2)), rel=1e-5)
    hard = create_model("fpnet", num_points=2)
    assert hard._cell_targets(u, v, row, col, 14, 14).tolist() == [5 * 14 + 3, 2 * 14 + 7]
    images, targets, mask = torch.rand(2, 1, 112, 112), torch.rand(2, 2, 2) - 0.5, torch.ones(2, 2, dtype=torch.bool)
    loss, _ = soft.compute_loss(images, targets, mask, get_loss("l1"))
    loss.backward()
    assert torch.isfinite(loss) and soft.head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0])
def test_naimishnet_dropout_scales_the_papers_probabilities(scale):
    model = create_model("naimishnet", dropout=scale)
    probabilities = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert probabilities == pytest.approx([scale * p for p in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)])
    x = torch.rand(2, 1, 96, 96)
    model.train()
    same = torch.equal(model(x), model(x))  # in training mode, only dropout makes two calls differ
    assert same == (scale == 0.0)
    with pytest.raises(ValueError, match="dropout"):
        create_model("naimishnet", dropout=1.5)


def test_unknown_model_name():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        create_model("nope")
