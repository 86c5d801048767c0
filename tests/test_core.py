"End-to-end checks of the exported library: the network and the diffusion core work together."
import torch
from landscape_diffusion.unet import UNet
from landscape_diffusion.diffusion import Diffusion


def tiny_unet():
    return UNet(widths=(16, 32, 32), bottleneck=32, attn_at=(4,), groups=4)


def test_tiny_model_learns_a_fixed_batch():
    torch.manual_seed(0)
    model, d = tiny_unet(), Diffusion()
    x0 = torch.rand(8, 3, 16, 16) * 2 - 1
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        loss = d.loss(model, x0, generator=g)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.6 * first, (first, last)


def test_sampling_a_real_unet_gives_valid_images_of_any_size():
    model, d = tiny_unet().eval(), Diffusion(steps=100)
    for size in (16, 32):
        x = d.sample(model, n=3, size=size, sampler="ddim", steps=5, generator=torch.Generator().manual_seed(0))
        assert x.shape == (3, 3, size, size)
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()


def test_same_seed_same_images_different_seed_different_images():
    model, d = tiny_unet().eval(), Diffusion(steps=50)
    draw = lambda seed: d.sample(model, n=2, size=16, sampler="ddpm", generator=torch.Generator().manual_seed(seed))
    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))
