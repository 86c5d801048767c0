"""Where a checkpoint's distance to the photos lies: each pyramid level against its own floor, and how sharp.

The SWD's mean hides which level is off. This scores `--n` samples (seed 0) against the held-out photos level by
level, beside the floor (as many training photos against the same held-out ones) and with `sharpness` (the finest
level's spread over the photos': 1 as sharp, below 1 smoother). The checkpoint samples with its own sampler in its
autocast precision, in float32, and with 2.5x the steps, so that a gap the sampler or the precision makes shows up.
Yardsticks beside them: the training photos with a little blur mixed in or sharpened, and the samples sharpened
until their finest level has the photos' spread (how much of the gap is too little fine detail, and how much is its
shape). Prints a table and writes fine_detail_<cpu capability>.json to OUT_DIR.

    python benchmarks/fine_detail.py CHECKPOINT DATA OUT_DIR [--n 1024]
"""
import argparse, contextlib, json, time
from pathlib import Path

import torch

from landscape_diffusion.checkpoint import ready_to_sample, sampler_settings
from landscape_diffusion.data import load_part
from landscape_diffusion.device import cpu_capability
from landscape_diffusion.evaluate import _blur, format_table, sharpness, swd, to_uint8

KEYS = ("images", "swd_mean", "swd_32px", "swd_16px", "swd_32px_over_floor", "swd_16px_over_floor", "sharpness", "seconds")


def sharpened(images:torch.Tensor, amount:float) -> torch.Tensor:
    "Float images in [-1, 1] with `amount` of their finest detail added (negative: that much blur mixed in)."
    return (images + amount * (images - _blur(images))).clamp(-1, 1)


def draw(sampling, n:int, steps:int, float32:bool=False) -> torch.Tensor:
    "`n` samples (seed 0) with the checkpoint's sampler at `steps`, in its autocast precision or in float32."
    model, diffusion, cfg, _, autocast = sampling
    sampler, _, eta = sampler_settings(cfg, None, None, None)
    g = torch.Generator().manual_seed(0)
    with contextlib.nullcontext() if float32 else autocast:
        return torch.cat([diffusion.sample(model, min(256, n - i), cfg.size, sampler, steps, eta, generator=g)
                          for i in range(0, n, 256)])


def score(name:str, images:torch.Tensor, held:torch.Tensor, floor:dict, seconds:float=None) -> dict:
    "Per-level SWD of float images against the held-out photos, over that level's floor, and their sharpness."
    u = to_uint8(images)
    r = swd(u, held)
    over = {f"{k}_over_floor": r[k] / floor[k] for k in ("swd_32px", "swd_16px")}
    row = dict(images=name, **r, **over, sharpness=sharpness(u, held), seconds=seconds)
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return row


def main(ckpt:str, data:str, out_dir:str, n:int=1024):
    held, train = load_part(data, "held-out")[0], load_part(data, "train")[0]
    photos = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]].float() / 127.5 - 1
    floor = swd(to_uint8(photos), held)
    rows = [score("training photos (the floor)", photos, held, floor)]
    rows += [score(f"training photos, sharpened {a:+g}", sharpened(photos, a), held, floor) for a in (-0.1, -0.25, 0.1)]
    sampling = ready_to_sample(ckpt)
    sampler, steps, _ = sampler_settings(sampling.cfg, None, None, None)
    drawn = {}
    for at, float32 in [(steps, False), (steps, True), (round(steps * 2.5), False)]:
        t = time.perf_counter()
        drawn[at, float32] = draw(sampling, n, at, float32)
        rows.append(score(f"samples: {sampler}, {at} steps{', float32' if float32 else ''}", drawn[at, float32], held,
                          floor, time.perf_counter() - t))
    samples = drawn[steps, False]
    fine = lambda x: (x - _blur(x)).std().item()
    gain = fine(photos) / fine(samples) - 1  # the sharpening that gives the samples' finest detail the photos' spread
    rows.append(score(f"samples, sharpened {gain:+.2f} (the photos' fine spread)", sharpened(samples, gain), held, floor))
    print(format_table(rows, KEYS))
    out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
    path = out / f"fine_detail_{cpu_capability()}.json"
    path.write_text(json.dumps(dict(checkpoint=str(ckpt), data=Path(data).name, n=n, n_held_out=len(held),
                                    cpu_capability=cpu_capability(), isa=torch.backends.cpu.get_cpu_capability(),
                                    torch=torch.__version__, rows=rows), indent=1))
    print("wrote", path)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ckpt"); p.add_argument("data"); p.add_argument("out_dir")
    p.add_argument("--n", type=int, default=1024, help="samples, and training photos for the floor")
    a = p.parse_args()
    main(a.ckpt, a.data, a.out_dir, a.n)
