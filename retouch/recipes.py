"""Ready-made training recipes for one's own photos: clean photos in, a fine-tuned model out.

`retouch train demosaic --data PHOTOS --out RUN` is the shipped `demosaic` model's recipe read off
its own weights file (network, losses, crop size), with the pairs made on the fly from the photos
as people meet mosaics: blocks of 4-24 px, sometimes non-square, soft-edged or rescaled, and the
whole crop often JPEG-compressed afterwards. It starts from the shipped weights, so a few hundred
steps adapt it rather than teach it from nothing.
"""

from __future__ import annotations

from pathlib import Path

from retouch.errors import RetouchError

# What `retouch train demosaic` degrades the photos with (docs/howto/train.md#degradations explains each part)
DEMOSAIC_DEGRADE = "mosaic:block=4-24,aspect=0.75-1.33+edge:sigma=0.5-1.5,p=0.2+rescale:factor=0.75-1.33,p=0.25"
DEMOSAIC_POST = "jpeg:quality=40-95,p=0.6"
RECIPES = ("demosaic",)


def recipe(name: str, photos: str | Path | list, init_from: str = "demosaic", size: int | None = None):
    """The RunConfig of a named recipe over `photos` (a folder or a list), fine-tuning `init_from`
    on crops of `size` (default: the size it was trained at)."""
    from retouch.models.load import read_meta, resolve
    from retouch.train import RunConfig

    if name not in RECIPES:
        raise RetouchError(f"Unknown recipe {name!r}; known: {', '.join(RECIPES)}.")
    meta = read_meta(resolve(init_from))
    if meta.get("task") != "restore" or meta.get("method") != "pix2pix":
        raise RetouchError(f"--init-from {init_from} is a {meta.get('task')!r} model; the demosaic recipe fine-tunes a masked pix2pix restorer such as demosaic.")
    size = size or meta.get("size", 128)
    return RunConfig(
        method="pix2pix",
        model=dict(meta["method_config"]),
        data={"root": [str(p) for p in photos] if isinstance(photos, list) else str(photos), "degrade": DEMOSAIC_DEGRADE,
              "post": DEMOSAIC_POST, "region": "box", "region_size": [size // 4, size], "size": size},
        train={"steps": 2000, "batch_size": 8, "decay_start": 0.5, "sample_every": 500, "ckpt_every": 100, "init_from": str(init_from)},
    )
