"""ESRGAN's and Real-ESRGAN's networks as their own code builds them, for the parity tests: written
here from those sources, module tree for module tree, so `state_dict()` gives each published key
layout (never from retouch's nets) and `forward` is the reference's.

- `BasicSRRRDBNet`: XPixelGroup/BasicSR `archs/rrdbnet_arch.py` (Real-ESRGAN's RealESRGAN_x4plus /
  x2plus), pixel unshuffle written as BasicSR's `arch_util.pixel_unshuffle` (view, permute);
- `ESRGANRepoRRDBNet`: xinntao/ESRGAN `RRDBNet_arch.py` (RRDB_ESRGAN_x4.pth);
- `OldRRDBNet`: xinntao/ESRGAN `architecture.py` + `block.py` (the "old arch"): a flattened
  `model` Sequential whose conv blocks are Sequentials of (conv, activation);
- `SRVGGNetCompact`: xinntao/Real-ESRGAN `archs/srvgg_arch.py`.

All work on RGB in [0, 1]. `trained_like` gives random weights whose outputs span [0, 1] without
piling up at its ends, so parity is measured on values, not on clamped ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pixel_unshuffle(x: torch.Tensor, scale: int) -> torch.Tensor:
    """BasicSR's arch_util.pixel_unshuffle: each scale x scale cell's pixels become channels, channel-major."""
    b, c, hh, hw = x.shape
    h, w = hh // scale, hw // scale
    return x.view(b, c, h, scale, w, scale).permute(0, 1, 3, 5, 2, 4).reshape(b, c * scale * scale, h, w)


class DenseBlock(nn.Module):
    """BasicSR's ResidualDenseBlock / ESRGAN's ResidualDenseBlock_5C (plain convs)."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x):
        lrelu = nn.LeakyReLU(0.2)
        x1 = lrelu(self.conv1(x))
        x2 = lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class BasicSRRRDB(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class BasicSRRRDBNet(nn.Module):
    """RRDBNet(num_in_ch, num_out_ch, scale, num_feat, num_block, num_grow_ch)."""

    def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32) -> None:
        super().__init__()
        self.scale = scale
        num_in_ch *= {2: 4, 1: 16}.get(scale, 1)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(BasicSRRRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        feat = pixel_unshuffle(x, {2: 2, 1: 4}[self.scale]) if self.scale in (1, 2) else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class ESRGANRepoRRDB(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc)

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class ESRGANRepoRRDBNet(nn.Module):
    """RRDBNet_arch.RRDBNet(in_nc, out_nc, nf, nb, gc): always x4."""

    def __init__(self, in_nc=3, out_nc=3, nf=64, nb=23, gc=32) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.RRDB_trunk = nn.Sequential(*(ESRGANRepoRRDB(nf, gc) for _ in range(nb)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.RRDB_trunk(fea))
        fea = self.lrelu(self.upconv1(F.interpolate(fea, scale_factor=2, mode="nearest")))
        fea = self.lrelu(self.upconv2(F.interpolate(fea, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.HRconv(fea)))


class Shortcut(nn.Module):
    """block.ShortcutBlock: x + sub(x)."""

    def __init__(self, sub: nn.Module) -> None:
        super().__init__()
        self.sub = sub

    def forward(self, x):
        return x + self.sub(x)


def _conv_block(cin: int, cout: int, act: bool) -> nn.Sequential:
    """block.conv_block with zero padding, no norm: Sequential(conv[, LeakyReLU 0.2])."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), *([nn.LeakyReLU(0.2)] if act else []))


class OldDenseBlock(nn.Module):
    """block.ResidualDenseBlock_5C in CNA mode: conv1..conv4 are (conv, act), conv5 is (conv)."""

    def __init__(self, nc: int, gc: int) -> None:
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", _conv_block(nc + i * gc, gc, True))
        self.conv5 = _conv_block(nc + 4 * gc, nc, False)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(torch.cat((x, x1), 1))
        x3 = self.conv3(torch.cat((x, x1, x2), 1))
        x4 = self.conv4(torch.cat((x, x1, x2, x3), 1))
        return self.conv5(torch.cat((x, x1, x2, x3, x4), 1)).mul(0.2) + x


class OldRRDB(nn.Module):
    def __init__(self, nc: int, gc: int) -> None:
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = OldDenseBlock(nc, gc), OldDenseBlock(nc, gc), OldDenseBlock(nc, gc)

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))).mul(0.2) + x


class OldRRDBNet(nn.Module):
    """architecture.RRDB_Net(in_nc, out_nc, nf, nb, gc, upscale) with upsample_mode 'upconv': the
    flattened Sequential fea_conv, Shortcut(RRDBs + LR_conv), (Upsample, conv, act) per x2 stage,
    HR_conv0 (conv, act), HR_conv1 (conv)."""

    def __init__(self, in_nc=3, out_nc=3, nf=64, nb=23, gc=32, upscale=4) -> None:
        super().__init__()
        stages = upscale.bit_length() - 1
        layers: list[nn.Module] = [nn.Conv2d(in_nc, nf, 3, 1, 1),
                                   Shortcut(nn.Sequential(*(OldRRDB(nf, gc) for _ in range(nb)), nn.Conv2d(nf, nf, 3, 1, 1)))]
        for _ in range(stages):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(nf, out_nc, 3, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class SRVGGNetCompact(nn.Module):
    """srvgg_arch.SRVGGNetCompact(num_in_ch, num_out_ch, num_feat, num_conv, upscale, act_type='prelu')."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4) -> None:
        super().__init__()
        self.upscale = upscale
        self.body = nn.ModuleList([nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)])
        for _ in range(num_conv):
            self.body.extend([nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)])
        self.body.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.upscale) + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


def trained_like(net: nn.Module, last: nn.Conv2d, seed: int = 0, bias: float = 0.5) -> nn.Module:
    """Random weights (seeded) with `last`'s bias at `bias`, so the output sits around mid-grey and
    varies with the input; PReLU slopes random too (a trained net's are not 0.25). Eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.2 / fan_in) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.02)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.4)
        last.weight.mul_(0.35)
        last.bias.fill_(bias)
    return net.eval()
