"""CPU per frame of the work around the model in `dff infer`, each step alone on one thread: on
RGB as `dff infer` does it, and on YUV 4:2:0 planes as it might.

    python benchmarks/frame_work_cost.py --video ../shared/data/videos/driving-960x540.mp4

decode: OpenCV to RGB (VideoReader's way) against PyAV to I420 planes; network input: the RGB
shrink against Y shrunk, U and V area-resized to the network size and converted (OpenCV's YCrCb
conversion stands in for a video-range matrix: the same work); drawing: the RGB overlay and its
conversion to I420 (what x264 takes) against a masked blend on the planes; x264 ultrafast on I420.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from fractions import Fraction

import av
import cv2
import numpy as np

from dff.data.palettes import get_palette, overlay
from dff.data.frames import resized_size, shrink
from dff.data.video import VideoReader


def cpu_ms(fn, n: int) -> float:
    """Process CPU milliseconds per call of fn, n calls after one warm-up."""
    fn()
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return 1000 * (time.process_time() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", required=True)
    ap.add_argument("--short-side", type=int, default=240)
    ap.add_argument("--reps", type=int, default=100)
    args = ap.parse_args()
    cv2.setNumThreads(1)

    reader = VideoReader(args.video, threads=1)  # opened (and probed) outside the timing

    def decode_cv2() -> int:
        return sum(1 for _ in reader)

    def decode_av() -> int:
        with av.open(args.video) as c:
            stream = c.streams.video[0]
            stream.thread_count = 1
            return sum(1 for f in c.decode(stream) if f.to_ndarray(format="yuv420p") is not None)

    res = {}
    for name, fn in (("decode_opencv_rgb", decode_cv2), ("decode_pyav_i420", decode_av)):
        t0 = time.process_time()
        n = fn()
        res[name] = 1000 * (time.process_time() - t0) / n
    rgb = next(iter(reader))
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise SystemExit(f"{args.video}: {w}x{h}; I420 planes need an even size")
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    y, uv = i420[:h], i420[h:].reshape(2, h // 2, w // 2)
    net_h, net_w = resized_size(h, w, args.short_side)
    labels = np.zeros((h, w), np.uint8)
    labels[h // 3: 2 * h // 3, w // 4: 3 * w // 4] = 1  # a third of the frame coloured
    palette = get_palette("voc")

    def input_from_planes() -> np.ndarray:
        small = [shrink(y, (net_h, net_w))] + [cv2.resize(p, (net_w, net_h), interpolation=cv2.INTER_AREA) for p in uv]
        return cv2.cvtColor(cv2.merge(small), cv2.COLOR_YCrCb2RGB)

    def blend_planes() -> None:
        for plane, mask in ((y.copy(), labels.astype(bool)), *((p.copy(), labels[::2, ::2].astype(bool)) for p in uv)):
            plane[mask] = (plane[mask] >> 1) + 64

    frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt, codec.options = w, h, "yuv420p", {"preset": "ultrafast"}
    codec.time_base = Fraction(1, 25)
    pts = itertools.count()

    def encode() -> None:
        frame.pts = next(pts)
        codec.encode(frame)

    res.update({"input_rgb_shrink": cpu_ms(lambda: shrink(rgb, (net_h, net_w)), args.reps),
                "input_from_planes": cpu_ms(input_from_planes, args.reps),
                "overlay_rgb_to_i420": cpu_ms(lambda: cv2.cvtColor(overlay(rgb, labels, palette), cv2.COLOR_RGB2YUV_I420),
                                              args.reps),
                "blend_on_planes": cpu_ms(blend_planes, args.reps),
                "x264_ultrafast": cpu_ms(encode, args.reps)})
    print(json.dumps({"video": args.video, "size": [h, w], "network": [net_h, net_w],
                      **{k: round(v, 2) for k, v in res.items()}}))


if __name__ == "__main__":
    main()
