"""The PyTorch side of the side-by-side table in docs/performance.md: a CSVAE train step with the paper's
CelebA networks (Larsen et al. 2015: 5x5 stride-2 convolutions 64-128-256 + batch norm + ReLU, dense
2048; decoder dense 8x8x256, transposed convolutions 256-128-32, a 5x5 output convolution), batch
64, written as a PyTorch user would, and timed as benchmarks/train_step.py times ours: one fixed
batch in memory, best of --steps steps after --warmup.

The step is csvae_tf's: (1) the encoders q(z|x), q(w|x,y) and the decoder descend
beta1*SSE + beta2*KL_w + beta3*KL_z + beta4*(-H[q(y|z)]) with Adam (appendix 7.1's betas 20, 1,
0.2, 10; W prior N(3, 1) where a label is on, N(0, 0.1) where it is off); (2) the adversary q(y|z)
(MLP 64-64) descends -log q(y|z) on the detached z with its own Adam.

PyTorch is not a dependency of csvae-tf and nothing imports this file; run it in its own
environment (on our machines `pip install torch==2.13.0` installs the CPU build from disk):

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    for mode in eager_nchw eager_cl compile_cl autocast_bf16; do
      /tmp/torchenv/bin/python benchmarks/pytorch_csvae_step.py --mode=$mode; done
    python -m benchmarks.train_step --configs=celeba --modes=plain,mixed --compare_vae=false --steps=8

Modes: eager_nchw (float32, PyTorch's default layout), eager_cl (channels_last), compile_cl
(torch.compile + channels_last), autocast_bf16 (torch.autocast bfloat16, channels_last).
Prints one JSON line.
"""
import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F


def conv_block(cin, cout):
    return [nn.Conv2d(cin, cout, 5, 2, 2, bias=False), nn.BatchNorm2d(cout, momentum=0.1), nn.ReLU()]


def deconv_block(cin, cout):
    return [nn.ConvTranspose2d(cin, cout, 5, 2, 2, output_padding=1, bias=False),
            nn.BatchNorm2d(cout, momentum=0.1), nn.ReLU()]


class Encoder(nn.Module):
    def __init__(self, latent, cond=0):
        super().__init__()
        self.trunk = nn.Sequential(*conv_block(3, 64), *conv_block(64, 128), *conv_block(128, 256), nn.Flatten())
        self.dense = nn.Sequential(nn.Linear(256 * 8 * 8 + cond, 2048, bias=False), nn.BatchNorm1d(2048), nn.ReLU())
        self.mean = nn.Linear(2048, latent)
        self.std = nn.Linear(2048, latent)

    def forward(self, x, y=None):
        h = self.trunk(x)
        if y is not None:
            h = torch.cat([h, y], 1)
        h = self.dense(h)
        return self.mean(h), F.softplus(self.std(h)) + 1e-4


class Decoder(nn.Module):
    def __init__(self, latent):
        super().__init__()
        self.dense = nn.Sequential(nn.Linear(latent, 256 * 8 * 8, bias=False), nn.BatchNorm1d(256 * 8 * 8), nn.ReLU())
        self.convs = nn.Sequential(*deconv_block(256, 256), *deconv_block(256, 128), *deconv_block(128, 32),
                                   nn.Conv2d(32, 3, 5, 1, 2))

    def forward(self, h):
        return self.convs(self.dense(h).view(-1, 256, 8, 8))


def kl_normal(mu, std, mu0, std0):
    return (torch.log(std0 / std) + (std ** 2 + (mu - mu0) ** 2) / (2 * std0 ** 2) - 0.5).flatten(1).sum(1)


class CSVAE(nn.Module):
    def __init__(self, k=2, dim_z=64, dim_w=2):
        super().__init__()
        self.k, self.dim_w = k, dim_w
        self.z_enc = Encoder(dim_z)
        self.w_enc = Encoder(k * dim_w, cond=k)
        self.dec = Decoder(dim_z + k * dim_w)
        self.adv = nn.Sequential(nn.Linear(dim_z, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, k))

    def vae_loss(self, x, y, betas=(20.0, 1.0, 0.2, 10.0)):
        zm, zs = self.z_enc(x)
        wm, ws = self.w_enc(x, y)
        z = zm + zs * torch.randn_like(zs)
        w = wm + ws * torch.randn_like(ws)
        mean = torch.sigmoid(self.dec(torch.cat([z, w], 1)).float())
        recon = ((x - mean) ** 2).flatten(1).sum(1)  # -log N(x | mean, 1/sqrt 2) + const
        yw = y.repeat_interleave(self.dim_w, 1)
        wp_mu, wp_std = torch.zeros_like(yw) + 3.0 * yw, torch.where(yw > 0, 1.0, 0.1)
        kl_w = kl_normal(wm.float(), ws.float(), wp_mu, wp_std)
        kl_z = kl_normal(zm.float(), zs.float(), torch.zeros_like(zm).float(), torch.ones_like(zs).float())
        p = torch.sigmoid(self.adv(z).float())
        neg_entropy = (p * torch.log(p + 1e-7) + (1 - p) * torch.log(1 - p + 1e-7)).sum(1)
        b1, b2, b3, b4 = betas
        return (b1 * recon + b2 * kl_w + b3 * kl_z + b4 * neg_entropy).mean(), z

    def adv_loss(self, z, y):
        return F.binary_cross_entropy_with_logits(self.adv(z.detach()).float(), y, reduction="none").sum(1).mean()


def make_step(model, mode):
    vae_params = [p for n, p in model.named_parameters() if not n.startswith("adv.")]
    opt = torch.optim.Adam(vae_params, lr=5e-4)
    adv_opt = torch.optim.Adam(model.adv.parameters(), lr=5e-4)
    bf16 = mode == "autocast_bf16"

    def step(x, y):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, z = model.vae_loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            a = model.adv_loss(z, y)
        adv_opt.zero_grad(set_to_none=True)
        a.backward()
        adv_opt.step()
        return loss

    if mode == "compile_cl":
        step = torch.compile(step)
    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True, choices=["eager_nchw", "eager_cl", "compile_cl", "autocast_bf16"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CSVAE().train()
    x = torch.rand(args.batch, 3, 64, 64)
    y = (torch.rand(args.batch, 2) < 0.5).float()
    if args.mode != "eager_nchw":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    step = make_step(model, args.mode)
    for _ in range(args.warmup):
        step(x, y)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - start)
    best, median = min(times), sorted(times)[len(times) // 2]
    print(json.dumps({"framework": "pytorch", "version": torch.__version__, "mode": args.mode,
                      "threads": torch.get_num_threads(), "images_per_s_best": args.batch / best,
                      "images_per_s_median": args.batch / median}))


if __name__ == "__main__":
    main()
