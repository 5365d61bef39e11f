"""dff: video semantic segmentation by deep feature flow. `dff.load(...)` for programs (see
dff/inference/load.py); the `dff` command for the rest."""


def __getattr__(name: str):
    # imported on first use: `dff --help` need not load torch
    if name in ("load", "VideoSegmenter", "Segmentation", "InferOptions"):
        from . import inference
        return getattr(inference, name)
    raise AttributeError(f"module 'dff' has no attribute {name!r}")
