"""How `dff infer` runs: one options object from the command line to run_video and run_list."""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("overlay", "side-by-side", "colour", "labels")


@dataclass(frozen=True)
class InferOptions:
    """Args:
        mode: overlay (colours blended with `alpha`), side-by-side (frame | colour mask), colour
            (the mask alone) - videos - or labels: a folder of class-id palette PNGs, 00000.png per frame.
        alpha: overlay opacity of the colours.
        palette: a palettes.PALETTES name; None: the model's (data.dataset's, or a pretrained key network's).
        codec, preset: the video codec (VideoWriter's default when None) and h264's x264 preset.
        key_interval: a key frame every this many frames; None: the model's model.key_interval.
        overwrite: replace an existing output (one dff wrote).
        allow_truncated: segment what decodes of a truncated video instead of failing.
        show_flow: draw the flow to the key frame to the right (video modes only).
        threads: the model's CPU threads (tuning.plan_cpus); None: torch's less one.
        realtime: live sources: frames that arrive while the model is busy are dropped, never queued.
        device: where the model runs ("auto", "cpu", "cuda:1", ...).
        onnx: run the graphs `dff export` wrote into this folder on onnxruntime instead.
        progress: a progress bar.
        config: the config file the run read (an input: never written onto).
    """

    mode: str = "overlay"
    alpha: float = 0.5
    palette: str | None = None
    codec: str | None = None
    preset: str | None = None
    key_interval: int | None = None
    overwrite: bool = False
    allow_truncated: bool = False
    show_flow: bool = False
    threads: int | None = None
    realtime: bool = False
    device: str = "auto"
    onnx: str | None = None
    progress: bool = True
    config: str | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.show_flow and self.mode == "labels":
            raise ValueError("show_flow draws into a video; mode 'labels' writes PNGs")
        if self.show_flow and self.onnx is not None:
            raise ValueError("--show-flow: an exported propagate graph does not report its flow")
