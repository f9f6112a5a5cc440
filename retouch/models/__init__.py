"""Trained models as files: everything between a `--model` value and a network ready to run.

`files` (weights and state files: the only place a file becomes tensors), `zoo` (the shipped
models), `foreign` (checkpoints of other projects, one module per family), `load` (name or path to
network, reading the file once), `runner` (tiling, precision, backend, ensembles), `backends`
(ONNX Runtime, OpenVINO), `export` (ONNX files). Nothing here imports from above `retouch.nets`.
"""
