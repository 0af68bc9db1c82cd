import numpy as np
import pytest
import torch

from gloria.training.flow import add_noise, draw_sigma, flow_loss, shift_sigma, velocity_target


def test_shift_formula_hand_values():
    assert shift_sigma(0.5, 5.0) == pytest.approx(2.5 / 3.0)
    assert shift_sigma(0.2, 3.0) == pytest.approx(0.6 / 1.4)
    assert shift_sigma(0.3, 1.0) == pytest.approx(0.3)
    assert shift_sigma(0.0, 5.0) == 0.0 and shift_sigma(1.0, 5.0) == pytest.approx(1.0)


def test_sigma_sampling_distribution():
    rng = np.random.default_rng(0)
    s = np.array([draw_sigma(rng, 5.0) for _ in range(20000)])
    # sigma = 5u/(1+4u) for u ~ U(0,1): P(sigma <= 0.5) = P(u <= 1/6)
    assert abs((s <= 0.5).mean() - 1 / 6) < 0.01
    rng = np.random.default_rng(0)
    ln = np.array([draw_sigma(rng, 1.0, "logit_normal", 0.0, 1.0) for _ in range(20000)])
    assert abs(np.median(ln) - 0.5) < 0.02
    with pytest.raises(ValueError, match="unknown sigma sampling"):
        draw_sigma(rng, 1.0, "beta")


def test_interpolation_matches_paper_eq2():
    """x_t = t*x1 + (1-t)*x0 and v = x1 - x0 with t = 1 - sigma, x1 = clean, x0 = noise; target = -v."""
    g = torch.Generator().manual_seed(0)
    clean, noise = torch.randn(2, 3, 2, 4, 4, generator=g), torch.randn(2, 3, 2, 4, 4, generator=g)
    sigma = torch.tensor([0.25, 0.9])
    x = add_noise(clean, noise, sigma)
    t = (1 - sigma).view(-1, 1, 1, 1, 1)
    assert torch.allclose(x, t * clean + (1 - t) * noise)
    assert torch.allclose(velocity_target(clean, noise), -(clean - noise))


def test_flow_loss_mask_hand_computed():
    pred = torch.zeros(2, 1, 3, 1, 1)
    target = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).view(2, 1, 3, 1, 1)
    assert torch.allclose(flow_loss(pred, target), torch.tensor([14 / 3, 77 / 3]))
    mask = torch.tensor([[False, True, True], [True, False, False]])
    assert torch.allclose(flow_loss(pred, target, mask), torch.tensor([(4 + 9) / 2, 16.0]))
    with pytest.raises(ValueError, match="keeps no frame"):
        flow_loss(pred, target, torch.zeros(2, 3, dtype=torch.bool))
