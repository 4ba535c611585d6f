"""SimCLR, MoCo v2, BYOL and DINOv2 options: each loss against an independent NumPy
computation on a tiny batch, through the method's own forward pass."""

import numpy as np
import pytest
import torch

from meersim.errors import InputError
from meersim.ssl.methods import build_method
from meersim.ssl.methods.base import effective_rank, embedding_std
from meersim.ssl.methods.dino import DINOLoss
from meersim.ssl.train import TrainConfig

B, SIDE = 6, 16


def _config(method, **kw):
    kw.setdefault("augment", {"global_size": SIDE})
    return TrainConfig(method=method, backbone="resnet10_w16", hidden_dim=32, projection_dim=8,
                       memory_bank_size=16, batch_size=B, temperature=0.3, **kw)  # fmt: skip


def _method(name, **kw):
    torch.manual_seed(0)
    from meersim.ssl.backbones import build_backbone

    method = build_method(_config(name, **kw), lambda student: build_backbone("resnet10_w16", SIDE))
    return method.double()


def _views(seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, 1, SIDE, SIDE, generator=g, dtype=torch.float64) for _ in range(2)]


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _cross_entropy(logits, target):
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(target)), target].mean())


def _np_ntxent(z0, z1, t):
    """Chen et al. 2020, Eq. (1): each of the 2B views against the 2B - 1 others."""
    z = _unit(np.concatenate([z0, z1]))
    sim = z @ z.T / t
    np.fill_diagonal(sim, -np.inf)
    n = len(z0)
    partner = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    return _cross_entropy(sim, partner)


def test_simclr_loss_is_ntxent_over_both_views():
    method = _method("simclr").train()
    views = _views()
    loss, stats = method(views, 0)
    with torch.no_grad():  # same batch, same BatchNorm statistics as the forward pass
        z = method.projection(method.backbone(torch.cat(views))).numpy()
    want = _np_ntxent(z[:B], z[B:], 0.3)
    assert abs(loss.item() - want) < 1e-9, (loss.item(), want)
    assert stats["effective_rank"] > 1 and stats["embedding_std"] > 0


def test_moco_loss_uses_the_queue_and_enqueues_keys():
    method = _method("moco").train()
    bank = method.criterion.memory_bank.bank.clone().numpy()  # [K, dim] before the step
    views = _views()
    loss, _ = method(views, 0)
    with torch.no_grad():
        q = method.projection(method.backbone(views[0])).numpy()
        k = method.projection_momentum(method.backbone_momentum(views[1])).numpy()
    qn, kn, bn = _unit(q), _unit(k), _unit(bank)
    logits = np.concatenate([(qn * kn).sum(1, keepdims=True), qn @ bn.T], axis=1) / 0.3
    want = _cross_entropy(logits, np.zeros(B, dtype=int))
    assert abs(loss.item() - want) < 1e-6, (loss.item(), want)
    after = method.criterion.memory_bank.bank.numpy()
    assert int(method.criterion.memory_bank.bank_ptr) == B  # B keys in, the rest unchanged
    np.testing.assert_allclose(_unit(after[:B]), kn, atol=1e-9)
    np.testing.assert_array_equal(after[B:], bank[B:])


def test_byol_loss_is_symmetric_negative_cosine_to_the_target():
    method = _method("byol").train()
    views = _views()
    loss, _ = method(views, 0)
    with torch.no_grad():
        both = torch.cat(views)
        p = method.prediction(method.projection(method.backbone(both))).numpy()
        t = method.projection_momentum(method.backbone_momentum(both)).numpy()
    p, t = _unit(p), _unit(t)
    want = 0.5 * (-(p[:B] * t[B:]).sum(1).mean() - (p[B:] * t[:B]).sum(1).mean())
    assert abs(loss.item() - want) < 1e-9


def test_momentum_update_moves_the_target_towards_the_online_network():
    method = _method("byol")
    with torch.no_grad():
        for p in method.backbone.parameters():
            p.add_(1.0)
    before = [p.clone() for p in method.backbone_momentum.parameters()]
    method.update_momentum(0.9)
    for b, t, o in zip(before, method.backbone_momentum.parameters(),
                       method.backbone.parameters(), strict=True):  # fmt: skip
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o)
        assert not t.requires_grad


def _np_sinkhorn(logits, eps, iters=3):
    """SwAV / DINOv2: alternate normalising prototypes (rows of Q^T) and samples."""
    q = np.exp((logits - logits.max()) / eps).T  # [K, B]
    q /= q.sum()
    k, b = q.shape
    for _ in range(iters):
        q /= q.sum(axis=1, keepdims=True) * k
        q /= q.sum(axis=0, keepdims=True) * b
    return (q * b).T


def test_sinkhorn_centering_matches_numpy_and_balances_prototypes():
    rng = np.random.default_rng(3)
    out = rng.normal(size=(2 * B, 5)) * 0.5
    out[:, 0] += 2.0  # one prototype dominates the raw softmax
    loss_fn = DINOLoss(5, 2, 1, 0.1, 0.1, 0, centering="sinkhorn")
    got = loss_fn.teacher_probs(torch.tensor(out), 0).numpy()
    want = _np_sinkhorn(out, 0.1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12)  # float32 inside
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-5)  # each sample a distribution
    raw = torch.softmax(torch.tensor(out) / 0.1, -1).numpy().mean(0)
    assert got.mean(0).std() < 0.5 * raw.std()  # prototypes used more evenly


def test_koleo_term_is_added_to_the_dino_loss():
    kw = dict(out_dim=32, bottleneck_dim=8, augment={"global_size": SIDE, "n_local": 0})
    plain = _method("dino", **kw).train()
    with_koleo = _method("dino", koleo_weight=0.5, **kw).train()
    views = _views()
    a, _ = plain(views, 0)
    b, stats = with_koleo(views, 0)
    with torch.no_grad():
        f = with_koleo.student.backbone(torch.cat(views)).numpy()
    want = 0.0
    for half in (f[:B], f[B:]):
        u = _unit(half)
        d = np.sqrt(((u[:, None] - u[None]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        want += -np.log(d.min(1) + 1e-8).mean() / 2
    assert abs(stats["koleo"] - want) < 1e-6
    assert abs(b.item() - (a.item() + 0.5 * want)) < 1e-6


def test_monitors_on_known_inputs():
    rng = np.random.default_rng(0)
    spread = torch.tensor(rng.normal(size=(256, 16)))
    assert 0.9 < embedding_std(spread) < 1.1
    point = torch.ones(64, 16) + 1e-6 * torch.tensor(rng.normal(size=(64, 16)))
    assert embedding_std(point) < 0.01
    line = torch.tensor(rng.normal(size=(64, 1))) * torch.ones(1, 16)
    assert effective_rank(line) < 1.01
    assert effective_rank(spread) > 12


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"method": "swav"}, "method"),
        ({"method": "simclr", "batch_size": 1}, "batch_size"),
        ({"method": "byol", "augment": {"n_local": 4}}, "augment.n_local"),
        ({"method": "moco", "centering": "sinkhorn"}, "centering"),
        ({"method": "dino", "backbone": "vit_tiny_patch16", "augment": {"global_size": 40}},
         "augment.global_size"),
        ({"method": "moco", "memory_bank_size": 8, "batch_size": 16}, "memory_bank_size"),
    ],
)  # fmt: skip
def test_bad_method_settings_name_the_field(kw, field):
    with pytest.raises(InputError) as info:
        TrainConfig(**kw)
    assert field in str(info.value) and "\n" not in str(info.value)
