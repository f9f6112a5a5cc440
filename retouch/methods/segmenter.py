"""Per-pixel segmentation of a degradation: where in a photo is there a mosaic?

Trained on pairs made on the fly (`data.degrade` inside random boxes, `data.post` over the whole
crop, `data.regions` boxes per crop with 0 allowed so clean crops teach it to stay quiet); the
target is the region mask itself, the loss binary cross-entropy per pixel. The exported network
gives one logit per pixel; `retouch.locate.detect` turns its probabilities into regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError
from retouch.methods.base import Method, register


@dataclass
class SegmenterConfig:
    width: int = 20  # channels of the stem; the trunk has twice as many
    lr: float = 0.002
    beta1: float = 0.9


@register
class SegmenterMethod(Method):
    Config = SegmenterConfig
    inference_net = "net"
    task = "segment"

    def __init__(self, cfg: SegmenterConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        self.add_net("net", {"name": "segmenter", "width": cfg.width, "init": "kaiming", "init_gain": 0.0})
        self.add_optimizer("net", self.nets["net"].parameters(), cfg.lr, (cfg.beta1, 0.999), steps, decay_start)

    def _batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if "mask" not in batch:
            raise RetouchError("The segmenter learns from made masks: set data.degrade (e.g. mosaic:block=4-32) and data.regions.")
        return batch["input"].to(self.device), batch["mask"].to(self.device)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        x, target = self._batch(batch)
        with self.autocast():
            logits = self.nets["net"](x).float()
        loss = F.binary_cross_entropy_with_logits(logits, target)
        self.update("net", loss)
        self.advance()
        pred, truth = logits > 0, target > 0.5
        iou = (pred & truth).sum() / (pred | truth).sum().clamp(min=1)
        return {"bce": loss.detach(), "iou": iou.detach()}

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of input | predicted probability | true mask."""
        x, target = self._batch(batch)
        net = self.nets["net"]
        net.eval()
        prob = torch.sigmoid(net(x).float())
        net.train()
        grey = lambda m: m.expand(-1, 3, -1, -1) * 2 - 1  # noqa: E731
        return torch.cat([x, grey(prob), grey(target)], dim=3)
