"""DINO head, loss, schedules and EMA against independent NumPy computations."""

import math

import numpy as np
import torch

from meersim.ssl.methods.dino import (
    DINOHead,
    DINOLoss,
    MultiCropWrapper,
    clip_gradients,
    cosine_scheduler,
    ema_update,
    teacher_temperature_schedule,
)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numpy_dino_loss(student, teacher, center, n_crops, n_global, t_s, t_t):
    """Caron et al. 2021, Eq. (1)-(3): sum over (global teacher view u, student view v != u)
    of H(P_t(u), P_s(v)) = -sum_k P_t log P_s, batch-averaged, mean over pairs."""
    b = student.shape[0] // n_crops
    p_t = _softmax((teacher - center) / t_t).reshape(n_global, b, -1)
    log_p_s = np.log(_softmax(student / t_s)).reshape(n_crops, b, -1)
    terms = [
        -(p_t[u] * log_p_s[v]).sum(-1).mean()
        for u in range(n_global)
        for v in range(n_crops)
        if v != u
    ]
    return float(np.mean(terms))


def test_loss_matches_numpy_formula():
    rng = np.random.default_rng(0)
    k, b, n_crops, epochs = 64, 5, 6, 10
    student = rng.normal(size=(n_crops * b, k))
    teacher = rng.normal(size=(2 * b, k))
    loss_fn = DINOLoss(k, n_crops, epochs, 0.04, 0.07, warmup_teacher_temp_epochs=4)
    center = rng.normal(scale=0.1, size=(1, k))
    loss_fn.center.copy_(torch.as_tensor(center))
    for epoch in (0, 2, 7):
        loss_fn.center.copy_(torch.as_tensor(center))
        t_t = 0.04 + (0.07 - 0.04) * min(epoch, 3) / 3  # linspace over 4 warmup epochs
        got = loss_fn(torch.tensor(student), torch.tensor(teacher), epoch).item()
        want = _numpy_dino_loss(student, teacher, center, n_crops, 2, 0.1, t_t)
        assert abs(got - want) < 1e-5, (epoch, got, want)


def test_center_update_is_ema_of_teacher_mean():
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(8, 16))
    loss_fn = DINOLoss(16, 2, 1, 0.04, 0.04, 0)
    loss_fn(torch.tensor(rng.normal(size=(8, 16))), torch.tensor(teacher), 0)
    np.testing.assert_allclose(loss_fn.center.numpy()[0], 0.1 * teacher.mean(0), rtol=1e-6)


def test_teacher_temperature_warmup():
    sched = teacher_temperature_schedule(0.04, 0.07, 30, 100)
    assert len(sched) == 100 and sched[0] == 0.04 and sched[29] == 0.07 and sched[-1] == 0.07
    np.testing.assert_allclose(np.diff(sched[:30]), 0.03 / 29)


def test_head_shapes_and_fixed_gain():
    head = DINOHead(32, out_dim=100, hidden_dim=48, bottleneck_dim=16, norm_last_layer=True)
    out = head(torch.randn(4, 32))
    assert out.shape == (4, 100)
    gain = head.last_layer.parametrizations.weight.original0
    assert not gain.requires_grad and torch.all(gain == 1)
    # logits are cosines between the unit bottleneck and unit prototypes
    assert out.abs().max() <= 1 + 1e-5
    free = DINOHead(32, out_dim=100, norm_last_layer=False)
    assert free.last_layer.parametrizations.weight.original0.requires_grad


def test_multicrop_wrapper_groups_by_size():
    calls = []

    class Backbone(torch.nn.Module):
        def forward(self, x):
            calls.append(tuple(x.shape))
            return x.mean(dim=(1, 2, 3))[:, None].repeat(1, 4)

    wrapper = MultiCropWrapper(Backbone(), torch.nn.Identity())
    crops = [torch.ones(3, 1, 8, 8), torch.ones(3, 1, 8, 8), torch.zeros(3, 1, 4, 4)]
    out = wrapper(crops)
    assert calls == [(6, 1, 8, 8), (3, 1, 4, 4)] and out.shape == (9, 4)


def test_cosine_scheduler_warmup_and_ends():
    sched = cosine_scheduler(1.0, 0.1, epochs=10, steps_per_epoch=5, warmup_epochs=2)
    assert len(sched) == 50
    np.testing.assert_allclose(sched[:10], np.linspace(0, 1, 10))
    assert (
        sched[10] == 1.0
        and abs(sched[-1] - (0.1 + 0.45 * (1 + math.cos(math.pi * 39 / 40)))) < 1e-12
    )
    assert np.all(np.diff(sched[10:]) <= 0)


def test_ema_update_and_clip():
    teacher, student = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in teacher.parameters()]
    ema_update(teacher, student, 0.9)
    for t, b, s in zip(teacher.parameters(), before, student.parameters(), strict=True):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * s)
    student.weight.grad = torch.full_like(student.weight, 10.0)
    student.bias.grad = torch.full_like(student.bias, 0.1)
    norms = clip_gradients(student, 3.0)
    assert abs(norms[0] - math.sqrt(6) * 10) < 1e-4
    assert abs(student.weight.grad.norm().item() - 3.0) < 1e-4  # clipped per parameter
    torch.testing.assert_close(student.bias.grad, torch.full_like(student.bias, 0.1))  # untouched
