"""Where to act in an image: class activation maps from global-pool classifiers (`cam.py`) and
detectors of existing mosaics (`detect.py`). Results are boxes (x, y, w, h) in image pixels and
heat maps or masks at the image's resolution."""
