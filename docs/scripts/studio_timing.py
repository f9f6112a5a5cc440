"""How fast `retouch studio` starts and answers a Restore of a 512x512 photo (issue 17's targets: 10 s, 3 s).

Start: from launching `retouch studio` (a fresh process, as a user types it) to the first HTTP 200
from its page, `--starts` times, in wall seconds and in the CPU seconds the process used by then
(the start is single-threaded imports, so on an idle machine wall is about CPU). Restore: scikit-image's 512x512 astronaut with a 128x128 box
mosaicked (8 px blocks) is uploaded in headless Chromium (the page helpers of tests/test_studio.py),
then Restore is pressed `--restores` times with the shipped `demosaic` (the box moved 8 px each
time, so each answer is a new image); each time is from the click to the before/after slider showing it, so it includes the browser's round trip
and the page's redraw. The first is the server's first call (the model is loaded in the background when the
server starts, `studio.warm_restorer`).

Usage (the table in docs/benchmarks.md; needs the studio and e2e extras and Debian's chromium):
    python docs/scripts/studio_timing.py --json docs/results/studio-timing.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from retouch.geometry import box_mask  # noqa: E402
from retouch.io import save_image, to_tensor  # noqa: E402
from retouch.tasks.hide import mosaic_region  # noqa: E402
from tests.test_studio import CHROMIUM, CHROMIUM_ARGS, _box, _free_port, _upload  # noqa: E402

BOX = (192, 160, 128, 128)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/PID/stat): what the start costs
    regardless of how many other processes share the cores, unlike wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(port: int) -> tuple[subprocess.Popen, float, float]:
    """Launch the studio; return it with the wall and CPU seconds until its page answered."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "retouch", "studio", "--port", str(port), "--device", "cpu"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc, time.perf_counter() - t0, cpu_seconds(proc.pid)
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("retouch studio exited before serving")
            time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--restores", type=int, default=4)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import skimage.data
    from playwright.sync_api import sync_playwright

    starts, start_cpu = [], []
    for _ in range(args.starts):
        proc, seconds, cpu = start(_free_port())
        starts.append(seconds)
        start_cpu.append(cpu)
        proc.terminate()
        proc.wait()

    folder = Path(tempfile.mkdtemp())
    x = to_tensor(Image.fromarray(skimage.data.astronaut()))
    hidden = save_image(mosaic_region(x, box_mask(512, 512, BOX), 8), folder / "astronaut-hidden.png")
    proc, *_ = start(port := _free_port())
    restores = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/")
            _upload(page, hidden, hidden.name)
            page.get_by_role("tab", name="Restore").click()
            shown = "() => [...document.querySelectorAll('#restore-slider img')].map(e => e.src).join()"
            for i in range(args.restores):
                x, y, w, h = BOX
                _box(page, (x + 8 * i, y, w, h))  # another box each time, so each result is a new image to wait for
                before = page.evaluate(shown)
                t0 = time.perf_counter()
                page.locator("#restore-run").click()
                page.wait_for_function(f"before => ({shown})() !== before && document.querySelectorAll('#restore-slider img').length == 2",
                                       arg=before, polling=20)
                restores.append(time.perf_counter() - t0)
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    report = {"cpu": cpu, "cores": os.cpu_count(), "load_1min_at_end": os.getloadavg()[0], "start_s": starts, "start_cpu_s": start_cpu,
              "restore_512_s": restores, "restore_first_is_the_servers_first": True}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
