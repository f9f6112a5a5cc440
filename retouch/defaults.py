"""The defaults a user meets, named once: library functions and the CLI's options read them here.

No imports (no torch, no PyAV), so `retouch --help` can show them without loading either.
"""

DEVICE = "auto"  # CUDA, then MPS, then the CPU (`retouch.device.pick_device`)
PRECISION = "auto"  # bf16 autocast where the hardware computes it natively, fp32 otherwise (`pick_precision`)
BACKEND = "torch"  # the inference runtime: torch | onnxruntime | openvino | auto (`retouch.models.backends`)
BACKENDS = ("torch", "onnxruntime", "openvino", "auto")
FILM_CRF = 18  # H.264 constant quality: visually lossless, so what is outside the regions does not visibly change
# The largest image (width x height) retouch decodes. A forged header can claim gigapixels in a
# few hundred bytes, and every verb holds float copies of what it reads (12 bytes a pixel), so the
# size is checked before any pixel is decoded. 200 MP lets a 100 MP photo through with room.
MAX_PIXELS = 200_000_000
# Films: the face detector runs on every N-th frame (and on every frame while a face is small), the
# face tracks fill the frames between (`retouch anonymize --every`; docs/benchmarks.md,
# "Anonymisation": coverage and speed at 1 and 2)
FACE_EVERY = 2
FACE_CELLS = 3  # `retouch anonymize`: mosaic cells across a face's longer side (docs/benchmarks.md, "Anonymisation")
