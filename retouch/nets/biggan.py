"""BigGAN (Brock et al. 2019) generator and projection discriminator, laid out like BigGAN-PyTorch.

The module tree, so every state-dict key, is that of ajbrock/BigGAN-PyTorch's ``BigGAN.py`` /
``layers.py`` (which the deep-generative-prior release copies as ``models/biggan.py``), so its
``G_ema.pth`` and ``D.pth`` load as they are: ``shared``, ``linear``, ``blocks.<i>.<j>`` (a
residual block, then its self-attention if any), ``output_layer`` in G; ``blocks``, ``linear``,
``embed`` in D. Spectral norm is that code's own (buffers ``u0`` and ``sv0`` beside ``weight``,
one power iteration per call, the estimate only updated in train mode), not torch's
``weight_orig``/``weight_u``; batch norm keeps its statistics in ``stored_mean``/``stored_var``
(no ``num_batches_tracked``) and is plain, not cross-replica.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SN_EPS = 1e-6  # BigGAN-PyTorch's launch scripts (--SN_eps 1e-6); only guards a zero vector's norm
BN_EPS = 1e-5
BOTTOM = 4  # G starts from a 4x4 grid at every resolution

# Channel multipliers of the feature maps from G's first (the linear layer's) to its last block's,
# per output resolution: G_arch in BigGAN.py. G's block i works at 8 * 2**i px.
G_WIDTHS = {
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
    512: (16, 16, 8, 8, 4, 2, 1, 1),
}
# D_arch: each block's output multiplier. Every block but the last halves the size, except at
# 32 px, where the reference downsamples twice and labels all four blocks "16 px" (so attention at
# 16 follows every block there).
D_WIDTHS = {
    32: (4, 4, 4, 4),
    64: (1, 2, 4, 8, 16),
    128: (1, 2, 4, 8, 16, 16),
    256: (1, 2, 4, 8, 8, 16, 16),
    512: (1, 1, 2, 4, 8, 8, 16, 16),
}


def _check_resolution(value: int) -> None:
    if value not in G_WIDTHS:
        raise ValueError(f"BigGAN resolution must be one of {', '.join(map(str, G_WIDTHS))} px, got {value}.")


def _attention_set(attention: int | Sequence[int], at: Sequence[int], net: str) -> set[int]:
    """The block resolutions that get self-attention; 0 (or an empty list) means none."""
    wanted = {attention} if isinstance(attention, int) else set(attention)
    wanted.discard(0)
    unknown = sorted(wanted - set(at))
    if unknown:
        raise ValueError(f"{net} has no block at {unknown[0]} px for attention; its blocks work at "
                         f"{', '.join(map(str, sorted(set(at))))} px (0 means no attention).")
    return wanted


# --- spectral norm -----------------------------------------------------------------------------


class SpectralNorm:
    """Divides ``weight`` by its largest singular value, estimated by one power-iteration step.

    ``u0`` (1 x rows) carries the left singular vector between calls and ``sv0`` logs the estimate;
    both only change in train mode, so an eval-mode network is a pure function of its weights.
    """

    weight: Tensor
    u0: Tensor
    sv0: Tensor
    training: bool

    def _register_sn(self, rows: int) -> None:
        self.register_buffer("u0", torch.randn(1, rows))  # type: ignore[attr-defined]
        self.register_buffer("sv0", torch.ones(1))  # type: ignore[attr-defined]

    def sn_weight(self) -> Tensor:
        w = self.weight.view(self.weight.size(0), -1)
        with torch.no_grad():
            v = F.normalize(self.u0 @ w, eps=SN_EPS)
            u = F.normalize(v @ w.t(), eps=SN_EPS)
            if self.training:
                self.u0.copy_(u)
        sv = (v @ w.t() @ u.t()).squeeze()  # differentiable in w, as in the reference
        if self.training:
            self.sv0.copy_(sv.detach())
        return self.weight / sv


class SNConv2d(SpectralNorm, nn.Conv2d):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self._register_sn(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding)


class SNLinear(SpectralNorm, nn.Linear):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._register_sn(out_features)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class SNEmbedding(SpectralNorm, nn.Embedding):
    """The projection discriminator's class embedding; its power iteration runs over classes."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        nn.Embedding.__init__(self, num_embeddings, embedding_dim)
        self._register_sn(num_embeddings)

    def forward(self, y: Tensor) -> Tensor:
        return F.embedding(y, self.sn_weight())


# --- blocks ------------------------------------------------------------------------------------


class CondBatchNorm(nn.Module):
    """Batch norm whose scale (1 + gain) and shift are functions of the condition (``ccbn``).

    With a shared embedding the condition is a vector (class embedding, plus a z chunk when the
    latent is hierarchical) and gain/bias are bias-free SN linear layers; without one it is the
    class index and they are plain per-class embeddings, as in the reference's CIFAR setup.
    """

    def __init__(self, channels: int, cond_dim: int, shared: bool) -> None:
        super().__init__()
        if shared:
            self.gain: nn.Module = SNLinear(cond_dim, channels, bias=False)
            self.bias: nn.Module = SNLinear(cond_dim, channels, bias=False)
        else:
            self.gain, self.bias = nn.Embedding(cond_dim, channels), nn.Embedding(cond_dim, channels)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, 0.1, BN_EPS)
        n = x.size(0)
        return out * (1 + self.gain(cond)).view(n, -1, 1, 1) + self.bias(cond).view(n, -1, 1, 1)


class BatchNorm(nn.Module):
    """Unconditional batch norm with the reference's names (``gain``, ``bias``, ``stored_*``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, self.training, 0.1, BN_EPS)


class Attention(nn.Module):
    """SA-GAN's non-local block as BigGAN-PyTorch implements it: keys and values max-pooled 2x,
    8x fewer channels for queries/keys, 2x fewer for values, and a residual gain ``gamma`` that
    starts at 0 so a fresh block is the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 8:
            raise ValueError(f"self-attention needs at least 8 channels, got {channels}; raise ch.")
        self.theta = SNConv2d(channels, channels // 8, 1, bias=False)
        self.phi = SNConv2d(channels, channels // 8, 1, bias=False)
        self.g = SNConv2d(channels, channels // 2, 1, bias=False)
        self.o = SNConv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        theta = self.theta(x).view(n, c // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(n, c // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(n, c // 2, h * w // 4)
        beta = F.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (n, hw, hw/4): where each pixel looks
        return x + self.gamma * self.o((g @ beta.transpose(1, 2)).view(n, c // 2, h, w))


class GBlock(nn.Module):
    """Pre-activation up-block: (CBN, ReLU, 2x nearest, conv3, CBN, ReLU, conv3) + conv1(2x nearest)."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, shared: bool) -> None:
        super().__init__()
        self.conv1 = SNConv2d(in_channels, out_channels)
        self.conv2 = SNConv2d(out_channels, out_channels)
        self.conv_sc = SNConv2d(in_channels, out_channels, 1)  # always learnable: every G block upsamples
        self.bn1 = CondBatchNorm(in_channels, cond_dim, shared)
        self.bn2 = CondBatchNorm(out_channels, cond_dim, shared)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """Residual down-block. The first block sees the image, so it skips the leading ReLU and pools
    before its shortcut conv (cheaper at full size); the others are pre-activation and convolve
    first. ``conv_sc`` exists only where the shortcut changes channels or size."""

    def __init__(self, in_channels: int, out_channels: int, preactivation: bool, downsample: bool) -> None:
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1 = SNConv2d(in_channels, out_channels)
        self.conv2 = SNConv2d(out_channels, out_channels)
        self.conv_sc = SNConv2d(in_channels, out_channels, 1) if in_channels != out_channels or downsample else None

    def _pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x) if self.preactivation else x)))
        if self.conv_sc is None:  # same channels, same size
            sc = x
        elif self.preactivation:
            sc = self._pool(self.conv_sc(x))
        else:
            sc = self.conv_sc(self._pool(x))
        return self._pool(h) + sc


# --- networks ----------------------------------------------------------------------------------


class BigGANGenerator(nn.Module):
    """BigGAN's G: z (and a class) to a ``resolution``-px RGB image in [-1, 1].

    ``ch`` scales every width (96 in the released ImageNet models, 64 for BigGAN-PyTorch's CIFAR
    runs). With ``hier`` the latent is split into one chunk for the first linear layer and one per
    block, each concatenated with the class embedding to condition that block's batch norms; the
    chunks are ``dim_z // (blocks + 1)`` wide, so the usable ``self.dim_z`` can be a little less
    than asked (120 gives 120 at 128 px but 119 at 256 px, as in the reference). ``shared`` makes
    one class embedding (``shared_dim`` wide) feed every block; without it each batch norm has its
    own per-class tables and the class index goes straight in.
    """

    def __init__(self, resolution: int = 128, ch: int = 96, dim_z: int = 120, shared_dim: int = 128,
                 n_classes: int = 1000, attention: int | Sequence[int] = 64, hier: bool = True,
                 shared: bool = True) -> None:
        super().__init__()
        _check_resolution(resolution)
        if min(ch, dim_z, shared_dim, n_classes) < 1:
            raise ValueError("ch, dim_z, shared_dim and n_classes must all be >= 1.")
        if hier and not shared:
            raise ValueError("A hierarchical latent needs the shared embedding (hier=True, shared=False "
                             "would feed z chunks to per-class tables).")
        widths = [ch * m for m in G_WIDTHS[resolution]]
        n_blocks = len(widths) - 1
        at = [BOTTOM * 2 ** (i + 1) for i in range(n_blocks)]
        attend = _attention_set(attention, at, f"A {resolution} px BigGAN G")
        self.hier, self.is_shared = hier, shared
        self.z_chunk = dim_z // (n_blocks + 1) if hier else 0
        self.dim_z = self.z_chunk * (n_blocks + 1) if hier else dim_z
        if hier and self.z_chunk < 1:
            raise ValueError(f"dim_z {dim_z} is too small to give each of {n_blocks + 1} latent slots a chunk.")
        cond_dim = shared_dim + self.z_chunk if shared else n_classes

        self.shared = nn.Embedding(n_classes, shared_dim) if shared else nn.Identity()
        self.linear = SNLinear(self.z_chunk if hier else dim_z, widths[0] * BOTTOM**2)
        self.blocks = nn.ModuleList()
        for i in range(n_blocks):
            stage: list[nn.Module] = [GBlock(widths[i], widths[i + 1], cond_dim, shared)]
            if at[i] in attend:
                stage.append(Attention(widths[i + 1]))
            self.blocks.append(nn.ModuleList(stage))
        self.output_layer = nn.Sequential(BatchNorm(widths[-1]), nn.ReLU(), SNConv2d(widths[-1], 3))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        """``y``: class indices (N,), or (with ``shared``) class vectors (N, shared_dim) already
        through ``self.shared``, which is how BigGAN-PyTorch calls G and lets a caller interpolate
        or optimise the class embedding."""
        if z.dim() != 2 or z.size(1) != self.dim_z:
            raise ValueError(f"z must be (N, {self.dim_z}), got {tuple(z.shape)}.")
        cond = self.shared(y) if self.is_shared and not y.is_floating_point() else y
        if self.hier:
            z, *chunks = z.split(self.z_chunk, dim=1)
            conds = [torch.cat([cond, c], dim=1) for c in chunks]
        else:
            conds = [cond] * len(self.blocks)
        h = self.linear(z).view(z.size(0), -1, BOTTOM, BOTTOM)
        for stage, c in zip(self.blocks, conds):
            for block in stage:
                h = block(h, c) if isinstance(block, GBlock) else block(h)
        return torch.tanh(self.output_layer(h))


class BigGANDiscriminator(nn.Module):
    """BigGAN's D: residual down-blocks, ReLU, global sum pooling, a linear logit plus the
    projection of the pooled features onto the class embedding (Miyato & Koyama 2018)."""

    def __init__(self, resolution: int = 128, ch: int = 96, n_classes: int = 1000,
                 attention: int | Sequence[int] = 64) -> None:
        super().__init__()
        _check_resolution(resolution)
        if min(ch, n_classes) < 1:
            raise ValueError("ch and n_classes must be >= 1.")
        widths = [ch * m for m in D_WIDTHS[resolution]]
        n = len(widths)
        if resolution == 32:
            down, at = [True, True, False, False], [16] * 4
        else:
            down, at = [True] * (n - 1) + [False], [max(resolution >> (i + 1), 4) for i in range(n)]
        attend = _attention_set(attention, at, f"A {resolution} px BigGAN D")
        self.blocks = nn.ModuleList()
        for i, (cin, cout) in enumerate(zip([3] + widths[:-1], widths)):
            stage: list[nn.Module] = [DBlock(cin, cout, preactivation=i > 0, downsample=down[i])]
            if at[i] in attend:
                stage.append(Attention(cout))
            self.blocks.append(nn.ModuleList(stage))
        self.linear = SNLinear(widths[-1], 1)
        self.embed = SNEmbedding(n_classes, widths[-1])

    def features(self, x: Tensor) -> list[Tensor]:
        """What DGP's discriminator-feature loss compares: the output of every module in
        ``blocks`` (each residual block, and each attention layer separately), in order, then the
        pooled feature vector (N, C). The same list as DGP's ``D(x)[1]``, so its "last k features"
        settings carry over."""
        out = []
        for stage in self.blocks:
            for block in stage:
                x = block(x)
                out.append(x)
        out.append(F.relu(x).sum(dim=(2, 3)))
        return out

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The (N, 1) logit; class-conditional (projection) when ``y`` (class indices) is given."""
        h = self.features(x)[-1]
        out = self.linear(h)
        if y is not None:
            out = out + (self.embed(y) * h).sum(dim=1, keepdim=True)
        return out


# --- loading released weights ------------------------------------------------------------------
