"DPM-Solver++ 2M: faster in steps than DDIM on the Gaussian oracle, and the same samples as diffusers' scheduler."
from pathlib import Path

import pytest, torch
from diffusers import DPMSolverMultistepScheduler

from landscape_diffusion.diffusion import Diffusion, spaced_timesteps

MEAN, STD = 0.3, 0.5


def gaussian_oracle(d:Diffusion, mean:float=MEAN, std:float=STD):
    "The exact optimal model for N(mean, std^2) data, predicting what `d.prediction` says."
    def model(x_t, t):
        ab = d.alpha_bar_on(x_t.device)[t].view(-1, *[1] * (x_t.ndim - 1))
        eps = (1 - ab).sqrt() * (x_t - ab.sqrt() * mean) / (ab * std ** 2 + 1 - ab)
        return eps if d.prediction == "eps" else (eps - (1 - ab).sqrt() * x_t) / ab.sqrt()
    return model


def standard_noise(n:int=512, seed:int=0) -> torch.Tensor:
    "Starting noise with mean exactly 0 and std exactly 1: the oracle's samplers are affine, so samples' moments are exact."
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    return (x - x.mean()) / x.std()


def moment_error(d:Diffusion, sampler:str, steps:int) -> float:
    "|mean error| + |std error| of the sampler's output distribution on the oracle."
    x = d.sample(gaussian_oracle(d), sampler=sampler, steps=steps, clip=False, x_T=standard_noise())
    return abs(x.mean().item() - MEAN) + abs(x.std().item() - STD)


@pytest.mark.parametrize("schedule,prediction,factor", [("linear", "eps", 5), ("cosine", "v", 3)])
def test_dpm_solver_beats_ddim_at_20_steps_on_the_oracle(schedule, prediction, factor):
    d = Diffusion(schedule=schedule, prediction=prediction)
    errors = {s: moment_error(d, "dpm++", s) for s in (10, 20, 50)}
    assert errors[20] * factor < moment_error(d, "ddim", 20), errors
    assert errors[50] < errors[20] < errors[10]  # converges as the steps grow


def diffusers_samples(d:Diffusion, x_T:torch.Tensor, timesteps:list=None, steps:int=None) -> torch.Tensor:
    "diffusers' DPM-Solver++ 2M on the same betas and prediction type, at our timesteps or at its own trailing spacing."
    scheduler = DPMSolverMultistepScheduler(
        num_train_timesteps=d.steps, trained_betas=d.betas.tolist(), algorithm_type="dpmsolver++", solver_order=2,
        prediction_type={"eps": "epsilon", "v": "v_prediction"}[d.prediction], timestep_spacing="trailing",
        lower_order_final=True, final_sigmas_type="zero")
    scheduler.set_timesteps(steps, timesteps=timesteps)
    model, x = gaussian_oracle(d), x_T
    for t in scheduler.timesteps:
        x = scheduler.step(model(x, t.expand(len(x))), t, x).prev_sample
    return x


# float32 both sides; eps-prediction on the cosine schedule divides rounding by sqrt(alpha-bar) ~ 5e-5 at its clipped last step
@pytest.mark.parametrize("schedule,prediction,atol", [("linear", "eps", 3e-5), ("cosine", "v", 3e-5), ("linear", "v", 3e-5),
                                                      ("cosine", "eps", 1e-3)])
@pytest.mark.parametrize("steps", [5, 20])
def test_dpm_solver_matches_diffusers(schedule, prediction, atol, steps):
    d = Diffusion(schedule=schedule, prediction=prediction)
    x_T = torch.randn(64, 3, 4, 4, generator=torch.Generator().manual_seed(steps))
    ours = d.sample(gaussian_oracle(d), sampler="dpm++", steps=steps, clip=False, x_T=x_T)
    theirs = diffusers_samples(d, x_T, timesteps=spaced_timesteps(d.alpha_bar, steps, "logsnr").tolist())
    torch.testing.assert_close(ours, theirs, atol=atol, rtol=0)
    trailing = d.sample(gaussian_oracle(d), sampler="dpm++", steps=steps, clip=False, x_T=x_T, spacing="trailing")
    torch.testing.assert_close(trailing, diffusers_samples(d, x_T, steps=steps), atol=atol, rtol=0)


def test_dpm_solver_refuses_fresh_noise_and_unknown_spacings():
    d = Diffusion()
    with pytest.raises(ValueError, match="eta must be 0"): d.sample(gaussian_oracle(d), sampler="dpm++", eta=0.5)
    with pytest.raises(ValueError, match="unknown spacing"): d.sample(gaussian_oracle(d), sampler="dpm++", spacing="even")


def test_the_photo_presets_and_the_pretrained_file_sample_with_dpm_solver(tmp_path):
    "Issue 24: the default everywhere a sampler is chosen; dpm++ refuses fresh noise in one line."
    import subprocess, sys
    from landscape_diffusion.checkpoint import config_from, load_checkpoint, sampler_settings
    from landscape_diffusion.config import ConfigError, get_config
    for preset in ("fast", "cpu-photos"):
        cfg = get_config(preset)
        assert (cfg.sampler, cfg.sample_steps, cfg.sample_eta) == ("dpm++", 20, 0.0)
    stored = config_from(load_checkpoint(Path(__file__).resolve().parents[1] / "pretrained" / "landscapes32.safetensors"))
    assert sampler_settings(stored) == ("dpm++", 20, 0.0)
    with pytest.raises(ConfigError, match="deterministic ODE"): get_config("fast", sample_eta=1.0)
    with pytest.raises(ConfigError, match="deterministic ODE"): sampler_settings(stored, eta=0.5)
    r = subprocess.run([sys.executable, "-m", "landscape_diffusion", "sample", "--ckpt", "pretrained/landscapes32.safetensors", "--n", "2",
                        "--sampler", "dpm++", "--steps", "8", "--out", str(tmp_path / "s.png")],
                       capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0 and (tmp_path / "s.png").exists(), r.stderr
