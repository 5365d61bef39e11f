"""dff: video semantic segmentation by deep feature flow. `dff.load(...)` for programs (see
dff/engine/video_segmenter.py); the `dff` command for the rest."""


def __getattr__(name: str):
    # imported on first use: `dff --help` need not load torch
    if name in ("load", "VideoSegmenter", "Segmentation"):
        from .engine import video_segmenter
        return getattr(video_segmenter, name)
    raise AttributeError(f"module 'dff' has no attribute {name!r}")
