"""PyTorch reference implementations of the benchmark's standard models, for the ratio
jaxgen / PyTorch (the optional extra ``bench``; nothing in jaxgen imports this module but
the benchmark harness, and only when PyTorch is installed).

Each reference has the flax model's architecture layer for layer (equal parameter counts,
checked by the tests and printed by the harness), its loss, its optimizer, the EMA of the
parameters that ``jaxgen.train.build_step`` keeps, and its samplers. Deliberate differences:
NCHW layout (PyTorch's default); symmetric padding where flax's 'SAME' pads a strided 3x3
convolution asymmetrically (same shapes and FLOPs); transposed kernels are not flipped
(irrelevant for speed); the training-health metrics jaxgen computes every step
(parameter/gradient norms) are not computed.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def param_count(module):
    """Number of trainable parameters (buffers such as batch-norm statistics excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class Reference:
    """A model, its optimizer(s), a `train_step(x)` on an NCHW batch in [-1, 1] and named
    samplers `samplers[name](n) -> images`; all under `precision` ('fp32' or 'bf16': autocast
    of convolutions and matrix products to bfloat16, float32 master weights)."""

    def __init__(self, modules, precision, device):
        self.modules = modules
        self.device = torch.device(device)
        self.precision = precision
        self.ema = [p.detach().clone() for m in modules for p in m.parameters()]

    def autocast(self):
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    @property
    def num_params(self):
        return sum(param_count(m) for m in self.modules)

    def update_ema(self, decay=0.999):
        params = [p.detach() for m in self.modules for p in m.parameters()]
        torch._foreach_lerp_(self.ema, params, 1.0 - decay)


def _adam(params, lr, b1=0.9, b2=0.999):
    return torch.optim.Adam(params, lr=lr, betas=(b1, b2), foreach=True)


# ---------------------------------------------------------------------------------------------
# Conv VAE (jaxgen.models.vae.ConvVAE, Bernoulli likelihood, transposed-conv decoder).


class ConvVAE(nn.Module):
    def __init__(self, image_shape, latent_dim, widths):
        super().__init__()
        h, w, c = image_shape
        scale = 2 ** len(widths)
        self.base = (widths[-1], h // scale, w // scale)
        layers, cin = [], c
        for width in widths:
            layers += [nn.Conv2d(cin, width, 3, stride=2, padding=1), nn.ReLU()]
            cin = width
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.to_posterior = nn.Linear(math.prod(self.base), 2 * latent_dim)
        self.project = nn.Linear(latent_dim, math.prod(self.base))
        ups, outs = [], [*widths[-2::-1], c]
        for i, width in enumerate(outs):
            ups.append(nn.ConvTranspose2d(cin, width, 3, stride=2, padding=1, output_padding=1))
            if i < len(outs) - 1:
                ups.append(nn.ReLU())
            cin = width
        self.decoder = nn.Sequential(*ups)

    def decode(self, z):
        h = F.relu(self.project(z)).view(z.shape[0], *self.base)
        return self.decoder(h)

    def forward(self, x):
        mu, logvar = self.to_posterior(self.encoder(x)).chunk(2, dim=-1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


def vae(image_shape, latent_dim, widths, learning_rate, precision, device):
    model = ConvVAE(image_shape, latent_dim, widths).to(device)
    ref = Reference([model], precision, device)
    opt = _adam(model.parameters(), learning_rate)

    def train_step(x):
        with ref.autocast():
            logits, mu, logvar = model(x)
        target = (x + 1.0) / 2.0
        nll = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
        kl = 0.5 * (mu.float() ** 2 + logvar.float().exp() - 1.0 - logvar.float())
        loss = (nll.flatten(1).sum(1) + kl.sum(1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ref.update_ema()
        return loss

    @torch.inference_mode()
    def prior(n):
        with ref.autocast():
            z = torch.randn(n, latent_dim, device=device)
            return 2.0 * torch.sigmoid(model.decode(z)) - 1.0

    ref.train_step, ref.samplers = train_step, {"prior": prior}
    return ref


# ---------------------------------------------------------------------------------------------
# DCGAN (jaxgen.models.gan.Generator / Discriminator with batch norm; minimax D loss,
# non-saturating G loss; one D update then one G update per step).


class Generator(nn.Module):
    def __init__(self, image_shape, widths, latent_dim):
        super().__init__()
        h, w, c = image_shape
        scale = 2 ** len(widths)
        self.base = (widths[-1], h // scale, w // scale)
        self.project = nn.Linear(latent_dim, math.prod(self.base))
        layers, cin = [nn.BatchNorm2d(widths[-1], eps=1e-5, momentum=0.1), nn.ReLU()], widths[-1]
        for width in reversed(widths[:-1]):
            layers += [
                nn.ConvTranspose2d(cin, width, 4, stride=2, padding=1),
                nn.BatchNorm2d(width, eps=1e-5, momentum=0.1),
                nn.ReLU(),
            ]
            cin = width
        layers += [nn.ConvTranspose2d(cin, c, 4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(self.project(z).view(z.shape[0], *self.base))


class Discriminator(nn.Module):
    def __init__(self, image_shape, widths):
        super().__init__()
        h, w, c = image_shape
        layers, cin = [], c
        for i, width in enumerate(widths):
            layers.append(nn.Conv2d(cin, width, 4, stride=2, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(width, eps=1e-5, momentum=0.1))
            layers.append(nn.LeakyReLU(0.2))
            cin = width
        scale = 2 ** len(widths)
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out = nn.Linear(cin * (h // scale) * (w // scale), 1)

    def forward(self, x):
        return self.out(self.net(x))[:, 0]


def dcgan(image_shape, latent_dim, widths, learning_rate, precision, device):
    g = Generator(image_shape, widths, latent_dim).to(device)
    d = Discriminator(image_shape, widths).to(device)
    ref = Reference([g, d], precision, device)
    opt_g = _adam(g.parameters(), learning_rate, b1=0.5)
    opt_d = _adam(d.parameters(), learning_rate, b1=0.5)

    def train_step(x):
        b = x.shape[0]
        with torch.no_grad(), ref.autocast():  # D step: no gradient to G
            fake = g(torch.randn(b, latent_dim, device=device))
        with ref.autocast():
            real_logits, fake_logits = d(x), d(fake)
        d_loss = (F.softplus(-real_logits.float()) + F.softplus(fake_logits.float())).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)  # G step: gradients through D, not of D's weights
        with ref.autocast():
            logits = d(g(torch.randn(b, latent_dim, device=device)))
        g_loss = F.softplus(-logits.float()).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        ref.update_ema()
        return d_loss + g_loss

    @torch.inference_mode()
    def prior(n):
        g.eval()
        with ref.autocast():
            x = g(torch.randn(n, latent_dim, device=device))
        g.train()
        return x

    ref.train_step, ref.samplers = train_step, {"prior": prior}
    return ref


# ---------------------------------------------------------------------------------------------
# DDPM U-Net (jaxgen.models.unet.UNet) with L_simple, Adam + global-norm clipping, and the
# ancestral (T steps) and DDIM samplers of jaxgen.diffusion.


def sinusoidal_embedding(t, dim, max_period=10_000.0):
    half = dim // 2
    w = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / (half - 1))
    angles = t.float()[:, None] * w[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def group_norm(channels, groups):
    return nn.GroupNorm(math.gcd(groups, channels), channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, cin, width, emb_dim, groups):
        super().__init__()
        self.norm1, self.conv1 = group_norm(cin, groups), nn.Conv2d(cin, width, 3, padding=1)
        self.emb = nn.Linear(emb_dim, width)
        self.norm2, self.conv2 = group_norm(width, groups), nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, width, 1) if cin != width else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    def __init__(self, channels, heads, groups):
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.norm(x).flatten(2).transpose(1, 2)  # [B, HW, C]
        y = self.attn(y, y, y, need_weights=False)[0]
        return x + y.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    def __init__(self, image_shape, width, width_mults, num_res_blocks, attention_resolutions,
                 attention_heads, norm_groups):  # fmt: skip
        super().__init__()
        height, _, channels = image_shape
        self.width, emb_dim, groups = width, 4 * width, norm_groups
        self.levels, self.num_res_blocks = len(width_mults), num_res_blocks
        self.time = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(channels, width, 3, padding=1)
        sizes = [height]  # feature-map height of each level ('SAME' stride 2: ceil(h / 2))
        for _ in width_mults[1:]:
            sizes.append((sizes[-1] + 1) // 2)

        def attention(ch, level):
            if sizes[level] in attention_resolutions:
                return AttentionBlock(ch, attention_heads, groups)
            return nn.Identity()

        self.down, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleList(), []
        skips, ch = [width], width
        for level, mult in enumerate(width_mults):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(ch, width * mult, emb_dim, groups))
                ch = width * mult
                self.down_attn.append(attention(ch, level))
                skips.append(ch)
            if level < self.levels - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.downsample = nn.ModuleList(self.downsample)
        self.mid1 = ResBlock(ch, ch, emb_dim, groups)
        self.mid_attn = AttentionBlock(ch, attention_heads, groups)
        self.mid2 = ResBlock(ch, ch, emb_dim, groups)
        self.up, self.up_attn, self.upsample = nn.ModuleList(), nn.ModuleList(), []
        for level, mult in reversed(list(enumerate(width_mults))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), width * mult, emb_dim, groups))
                ch = width * mult
                self.up_attn.append(attention(ch, level))
            if level > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.upsample = nn.ModuleList(self.upsample)
        self.norm_out = group_norm(ch, groups)
        self.conv_out = nn.Conv2d(ch, channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t):
        emb = self.time(sinusoidal_embedding(t, self.width))
        h = self.conv_in(x)
        skips, i = [h], 0
        for level in range(self.levels):
            for _ in range(self.num_res_blocks):
                h = self.down_attn[i](self.down[i](h, emb))
                skips.append(h)
                i += 1
            if level < self.levels - 1:
                h = self.downsample[level](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        i = 0
        for level in reversed(range(self.levels)):
            for _ in range(self.num_res_blocks + 1):
                h = self.up_attn[i](self.up[i](torch.cat([h, skips.pop()], dim=1), emb))
                i += 1
            if level > 0:
                h = F.interpolate(h, size=skips[-1].shape[2:], mode="nearest")
                h = self.upsample[self.levels - 1 - level](h)
        return self.conv_out(F.silu(self.norm_out(h)))


def linear_alpha_bar(num_steps, device):
    beta = torch.linspace(1e-4, 0.02, num_steps, dtype=torch.float64)
    return beta.to(device).float(), torch.cumprod(1.0 - beta, 0).to(device).float()


def ddpm(image_shape, unet_kwargs, num_steps, learning_rate, grad_clip, precision, device,
         ddim_steps=50):  # fmt: skip
    model = UNet(image_shape, **unet_kwargs).to(device)
    ref = Reference([model], precision, device)
    opt = _adam(model.parameters(), learning_rate)
    beta, alpha_bar = linear_alpha_bar(num_steps, device)
    h, w, c = image_shape

    def train_step(x0):
        b = x0.shape[0]
        t = torch.randint(0, num_steps, (b,), device=device)
        eps = torch.randn_like(x0)
        ab = alpha_bar[t][:, None, None, None]
        x_t = ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps
        with ref.autocast():
            pred = model(x_t, t)
        loss = ((eps - pred.float()) ** 2).flatten(1).mean(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
        opt.step()
        ref.update_ema()
        return loss

    def eps(x, t):
        with ref.autocast():
            return model(x, torch.full((x.shape[0],), t, device=device, dtype=torch.long)).float()

    @torch.inference_mode()
    def ancestral(n):  # Ho et al. 2020, Algorithm 2, sigma_t^2 = beta_t
        x = torch.randn(n, c, h, w, device=device)
        for t in range(num_steps - 1, -1, -1):
            mean = (x - beta[t] / (1.0 - alpha_bar[t]).sqrt() * eps(x, t)) / (1.0 - beta[t]).sqrt()
            x = mean + (beta[t].sqrt() * torch.randn_like(x) if t > 0 else 0.0)
        return x.clamp(-1.0, 1.0)

    @torch.inference_mode()
    def ddim(n):  # Song et al. 2021, eta = 0
        x = torch.randn(n, c, h, w, device=device)
        ts = torch.linspace(num_steps - 1, 0, ddim_steps).round().long().tolist()
        for t, t_prev in zip(ts, [*ts[1:], -1], strict=True):
            e = eps(x, t)
            ab, ab_prev = alpha_bar[t], (alpha_bar[t_prev] if t_prev >= 0 else 1.0)
            x0 = (x - (1.0 - ab).sqrt() * e) / ab.sqrt()
            x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1.0 - float(ab_prev), 0.0)) * e
        return x.clamp(-1.0, 1.0)

    ref.train_step = train_step
    ref.samplers = {f"ddpm_{num_steps}": ancestral, f"ddim_{ddim_steps}": ddim}
    return ref
