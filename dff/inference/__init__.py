"""Inference: a model behind a key-frame policy over a video (segmenter.py, stream.py), `dff.load`
(load.py), one video or a list of them into outputs (video.py, many.py), with its options
(options.py), decoding and encoding in threads (queues.py) and the CPUs shared out (tuning.py)."""
from .load import load
from .options import InferOptions
from .segmenter import Segmentation, VideoSegmenter

__all__ = ["InferOptions", "Segmentation", "VideoSegmenter", "load"]
