"""torchvision's `vgg19` state dict (`vgg19-dcbb9e9d.pth`), for the VGG content loss: a file the
user brings (nothing is downloaded), read by `load_pth` like every other `.pth`."""

from __future__ import annotations

from pathlib import Path

from retouch.errors import RetouchError
from retouch.models.files import read_state_file
from retouch.nets.vgg import VGGFeatures


def load_vgg19(path: str | Path, layer: str = "relu5_4") -> VGGFeatures:
    """VGG-19 features up to `layer` from a torchvision ``vgg19`` state dict (.pth or .safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise RetouchError(f"VGG-19 weights {path} do not exist; download torchvision's vgg19 state dict "
                           "(vgg19-dcbb9e9d.pth) yourself and name its path, or use another content loss.")
    state = read_state_file(path)
    net = VGGFeatures(layer)
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in state]
    wrong = [k for k in wanted if k in state and state[k].shape != wanted[k].shape]
    if missing or wrong:
        raise RetouchError(f"{path} is not a torchvision vgg19 state dict: "
                           f"{'missing ' + missing[0] if missing else 'wrong shape for ' + wrong[0]}.")
    net.load_state_dict({k: state[k].float() for k in wanted})
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()
