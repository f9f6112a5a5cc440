"""The one-call API: each verb is a function with the CLI's defaults, the same object however often
and in whatever order it is reached (checked in fresh interpreters: import order is the point)."""

import subprocess
import sys

import pytest

VERBS = ("translate", "demosaic", "upscale")


@pytest.mark.parametrize("order", [VERBS, VERBS[::-1]])
def test_verbs_stay_functions_in_a_fresh_interpreter(order):
    code = f"""
import importlib, retouch
first = {{v: getattr(retouch, v) for v in {order!r}}}
for v in {order!r}:
    importlib.import_module("retouch.tasks." + {{"translate": "translate", "demosaic": "restore", "upscale": "upscale"}}[v])
for v in {order!r}:
    assert callable(getattr(retouch, v)) and getattr(retouch, v) is first[v], v
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_upscale_and_demosaic_twice_with_the_cli_defaults():
    code = """
import retouch
from PIL import Image
img = Image.effect_noise((24, 16), 40).convert("RGB")
for _ in range(2):
    big = retouch.upscale(img)
    assert big.size == (96, 64), big.size
    fixed = retouch.demosaic(img, box=(0, 0, 16, 16))
    assert fixed.size == img.size
    assert fixed.crop((16, 0, 24, 16)).tobytes() == img.crop((16, 0, 24, 16)).tobytes()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
