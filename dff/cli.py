"""`dff` command line: train, eval, infer, export, bench, tradeoff, demo, make-synthetic, check-data, config."""
from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import warnings
from pathlib import Path

from tqdm import tqdm

from .config import ConfigError, load_config


def _config(args) -> dict:
    """Load args.config with args.overrides."""
    return load_config(args.config, args.overrides)


def _run_config(args) -> tuple[dict, dict | None]:
    """eval, infer, bench: the config (a --checkpoint's own, changed only in how it runs) and the
    checkpoint read for it."""
    from .engine.builders import run_config
    return run_config(args.config, args.overrides, args.checkpoint)


def cmd_train(args) -> None:
    from .io.outputs import prepare_run_dir
    from .engine.train import train
    from .engine.train.objective import OBJECTIVES
    cfg = _config(args)
    work_dir = args.work_dir or Path("runs") / Path(args.config).stem
    if args.resume and args.overwrite:
        raise ValueError("--resume continues a run and --overwrite replaces it: give one")
    prepare_run_dir(work_dir, args.resume, args.overwrite,
                    {"config": args.config, "data": cfg["data"]["root"], "model.load_from": cfg["model"]["load_from"]})
    res = train(cfg, work_dir, device=args.device, resume=args.resume)
    if res["best_metric"] == float("-inf"):  # train.val_every=0, or a torchrun rank other than 0
        print(f"trained to iteration {res['iteration']}; checkpoints in {res['work_dir']}")
        return
    print(f"best val {OBJECTIVES[res['objective']].best}: {res['best_metric']:.4f}; "
          f"checkpoints in {res['work_dir']}")


def cmd_eval(args) -> None:
    from .engine.builders import (attach_ground_truth_flow, check_classes, load_split, load_trained,
                                  select_device)
    from .engine.consistency import FlowWarps
    from .engine.evaluate import check_distances, evaluate, evaluate_consistency, evaluate_stream, format_table
    from .engine.train.objective import OBJECTIVES
    from .inference.policies import build_policy
    from .models import layout
    cfg, ckpt = _run_config(args)
    _check_json(args, cfg["data"]["root"])
    dev = select_device(args.device)
    if OBJECTIVES[cfg["train"]["objective"]].flow_only:
        return _eval_flow(args, cfg, dev, ckpt)
    model, ckpt = load_trained(cfg, args.checkpoint, dev, ckpt)
    layout.key_channels_last(model)  # as dff infer runs it (VideoSegmenter)
    k, n = args.key_interval or cfg["model"]["key_interval"], int(ckpt["num_classes"])
    check_classes(cfg, n)
    store = load_split(cfg, "val")
    check_distances(store, k)
    attach_ground_truth_flow(model, store)
    teacher = args.against == "teacher"
    if not teacher and not any(store.labels):
        print("the val split has no labels: scoring agreement with the key network (--against teacher)")
        teacher = True
    res = evaluate(model, store, k, n, cfg["data"]["ignore_index"], device=dev, progress=True,
                   motion_bins=args.motion_bins, against_teacher=teacher)
    res["checkpoint"] = None if args.checkpoint is None else str(args.checkpoint)
    if args.consistency:
        res.update(evaluate_consistency(model, store, k, n, cfg["data"]["ignore_index"], dev, warps=FlowWarps()))
    print(format_table(res))
    for name in args.policy or ():
        res[f"stream_{name}"] = s = evaluate_stream(model, store, build_policy(name, k), n, cfg["data"]["ignore_index"], dev)
        print(f"stream {name:<9} k={k}: mIoU {s['miou']:.4f}  key-frame rate {s['key_rate']:.4f} "
              f"({s['key_frames']}/{s['frames']}; key network ran {s['key_runs']} times)")
    _write_json(args, res)


def _check_json(args, data_root: str | None = None) -> None:
    """--json PATH: refused before any work when it exists (without --overwrite; with it, when it
    is no JSON file), is a folder, or is one of the command's inputs (its config, checkpoint, and
    the data it reads)."""
    from .io.outputs import check_file, is_json
    if args.json:
        check_file(args.json, args.overwrite, {"config": args.config, "checkpoint": getattr(args, "checkpoint", None),
                                               "data": data_root}, kind=("JSON", is_json))


def _write_json(args, res: dict) -> None:
    """--json PATH, when given (checked by _check_json before the work)."""
    from .engine.evaluate import write_json
    if args.json:
        write_json(res, args.json)
        print(f"wrote {args.json}")


def _eval_flow(args, cfg: dict, dev, ckpt: dict | None) -> None:
    """`dff eval` of a train.objective flow config: the flow network's end-point error on the val
    pairs (model.flow=dis or zero need no checkpoint)."""
    from .data.flow_pairs import read_ground_truth
    from .engine.builders import load_split, load_trained, model_from_config, num_classes_of
    from .engine.flow_epe import evaluate_flow, format_flow
    if args.checkpoint is None and cfg["model"]["flow"] in ("dis", "zero"):
        model = model_from_config(cfg, num_classes_of(cfg))
    else:
        model = load_trained(cfg, args.checkpoint, dev, ckpt)[0]
    store = load_split(cfg, "val")
    res = {"flow": cfg["model"]["flow"], "checkpoint": args.checkpoint,
           **evaluate_flow(model.flow_net.to(dev), store, read_ground_truth(store), dev)}
    print(format_flow(res, cfg["model"]["flow"]))
    _write_json(args, res)


def _int_at_least(low: int):
    """argparse type: an integer >= low."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be >= {low}")
        return value
    return parse


def _opacity(text: str) -> float:
    """--alpha: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} must be in [0, 1]")
    return value


def _size(text: str) -> tuple[int, int]:
    """--size HxW, both >= 16."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give HxW, e.g. 512x1024") from None
    if min(h, w) < 16:
        raise argparse.ArgumentTypeError(f"{text}: height and width must be >= 16")
    return h, w


def _key_intervals(text: str) -> list[int]:
    """--key-intervals: comma-separated integers >= 1."""
    return [_int_at_least(1)(v) for v in text.split(",")]


def _short_sides(text: str) -> list[int]:
    """--sizes: comma-separated short sides >= 16."""
    return [_int_at_least(16)(v) for v in text.split(",")]


def _flows(text: str) -> list[str]:
    """--flows: comma-separated names of tradeoff.FLOW_CHOICES."""
    from .engine.tradeoff import FLOW_CHOICES
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in FLOW_CHOICES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give flows among {', '.join(FLOW_CHOICES)}, comma-separated")
    return list(dict.fromkeys(names))


def _motion_edges(text: str) -> list[float] | None:
    """--motion-bins: comma-separated pixel edges, or none."""
    if text.strip().lower() == "none":
        return None
    try:
        edges = [float(v) for v in text.split(",")]
    except ValueError:
        edges = []
    if not edges or not all(math.isfinite(e) for e in edges):
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated finite pixel edges (e.g. 2,8) or none")
    return edges


def _opset(text: str) -> int:
    """--opset: what torch.onnx exports and GridSample supports (16 ..)."""
    from torch.onnx._constants import ONNX_MAX_OPSET
    value = _int_at_least(16)(text)
    if value > ONNX_MAX_OPSET:
        raise argparse.ArgumentTypeError(f"{value}: this torch.onnx exports opsets 16..{ONNX_MAX_OPSET} "
                                         "(GridSample needs 16)")
    return value


def cmd_infer(args) -> None:
    from .inference.options import InferOptions
    from .inference.tuning import tune_malloc
    from .inference.video import infer_video
    tune_malloc()  # no page faults per frame, RSS flat with the pipeline's threads
    single, batch = (args.input, args.output), (args.input_list, args.output_dir)
    if not ((all(single) and not any(batch)) or (all(batch) and not any(single))):
        raise ValueError("give --input and --output, or --input-list and --output-dir")
    if (args.backend == "onnxruntime") != (args.onnx is not None):
        raise ValueError("--backend onnxruntime and --onnx DIR (a `dff export` folder) go together")
    cfg, ckpt = _run_config(args) if args.backend == "torch" else (None, None)
    opts = InferOptions(mode=args.mode, alpha=args.alpha, palette=args.palette, codec=args.codec, preset=args.preset,
                        key_interval=args.key_interval, overwrite=args.overwrite,
                        allow_truncated=args.allow_truncated, show_flow=args.show_flow, threads=args.threads,
                        realtime=args.realtime, device=args.device, onnx=args.onnx, config=args.config)
    if args.input_list:
        return _infer_list(args, cfg, ckpt, opts)
    # A bare number is a webcam index unless a file of that name exists.
    source = int(args.input) if args.input.isdigit() and not Path(args.input).exists() else args.input
    res = infer_video(cfg, args.checkpoint, source, args.output, opts, ckpt)
    dropped = f", {res['frames_dropped']} dropped while the model was busy" if args.realtime else ""
    print(f"{res['frames_written']} frames ({res['frames_decoded']} decoded{dropped}) -> {res['output']} "
          f"({res['mode']}, {res['palette']} palette); {res['fps_processed']:.2f} frames/s")


def _infer_list(args, cfg: dict | None, ckpt: dict | None, opts) -> int:
    """dff infer --input-list FILE --output-dir DIR (torchrun: each process its share)."""
    from .inference.many import run_list
    if args.show_flow or args.overwrite:
        raise ValueError("--input-list runs resume: existing outputs are kept (no --overwrite), and "
                         "--show-flow is for single videos")
    res = run_list(cfg, args.checkpoint, args.input_list, args.output_dir, opts, ckpt)
    if res:  # rank 0
        print(f"{res['videos']} videos: {res['done']} segmented ({res['earlier']} by an earlier run), "
              f"{res['skipped']} already there, {res['failed']} failed; {res['manifest']}")
    return 1 if res.get("failed") else 0


def cmd_export(args) -> None:
    from .engine.builders import classes_of, load_trained, select_device
    from .engine.export import export_checkpoint
    cfg, ckpt = _run_config(args)
    model, ckpt = load_trained(cfg, args.checkpoint, select_device("cpu"), ckpt)
    info = export_checkpoint(model, cfg, args.checkpoint, classes_of(cfg, model), args.out, args.size, args.opset,
                             args.overwrite)
    flow = "the flow an input (computed outside: OpenCV DIS)" if info["flow_input"] else "its flow network inside"
    print(f"wrote {args.out}: key.onnx, propagate.onnx ({flow}), export.json; frames "
          f"{info['size'][0]}x{info['size'][1]}, opset {info['opset']}")


def cmd_bench(args) -> None:
    from .engine.bench import bench, format_bench
    from .inference.tuning import tune_malloc
    tune_malloc()  # the allocator `dff infer` runs the model with, so that the two compare
    cfg = _run_config(args)[0]
    _check_json(args)
    res = bench(cfg, args.size, args.key_intervals, reps=args.reps, device=args.device)
    print(format_bench(res))
    _write_json(args, res)


def cmd_tradeoff(args) -> None:
    from .engine.builders import select_device
    from .inference.tuning import tune_malloc
    from .engine.tradeoff import Tradeoff, TradeoffOptions
    from .engine.tradeoff_report import check_out, conclude, machine, to_markdown, write_report
    tune_malloc()  # the allocator `dff infer` runs the model with
    cfg, ckpt = _run_config(args)
    check_out(args.out, args.overwrite, {"config": args.config, "checkpoint": args.checkpoint,
                                         "data": cfg["data"]["root"]})
    opts = TradeoffOptions(args.sizes, args.key_intervals, args.flows, args.against, args.max_frames, args.reps,
                           select_device(args.device))
    run = Tradeoff(cfg, args.checkpoint, ckpt, opts)
    for note in run.result["notes"]:
        print(note)
    run.result.update(source=args.checkpoint or args.config, machine=machine(opts.device),
                      key_positions=f"{args.max_frames} key positions per size" if args.max_frames else "all key positions",
                      interrupted=True)
    try:
        run.run()
        run.result["interrupted"] = False
    finally:  # Ctrl-C and SIGTERM keep the settings measured so far
        if run.result["rows"]:
            conclude(run.result)
            print(to_markdown(run.result), end="")
            print("\n".join(write_report(run.result, args.out)))


def cmd_demo(args) -> None:
    from .engine.demo import run_demo
    run_demo(args.out, iters=args.iters, overwrite=args.overwrite)


def cmd_make_synthetic(args) -> None:
    from .data.synthetic import write_synthetic
    out = write_synthetic(args.out, {"train": args.train, "val": args.val}, num_frames=args.frames,
                          size=(args.height, args.width), num_classes=args.classes, seed=args.seed,
                          overwrite=args.overwrite, motion=args.motion)
    print(f"synthetic video set in {out}")


def cmd_check_data(args) -> int:
    from .data.check import check_clips, format_values
    from .engine.builders import clips_of, label_lut_of
    cfg = _config(args)
    lut, problems = label_lut_of(cfg), []
    for split in ("train", "val"):
        try:
            res = check_clips(clips_of(cfg, split), lut)
        except (FileNotFoundError, ValueError) as e:
            problems.append(f"{split}: {e}")
            continue
        print(f"{split}: {res['frames']} frames, {res['labels']} labels; label values {format_values(res['values'])}")
        problems += res["problems"]
    for p in problems:
        print(f"problem: {p}")
    print(f"{len(problems)} problem(s)" if problems else "no problems found")
    return 1 if problems else 0


def cmd_config(args) -> None:
    from .config import reference
    print(reference(markdown=args.markdown), end="\n" if not args.markdown else "")


def _common(p: argparse.ArgumentParser, checkpoint: bool = False) -> None:
    p.usage = f"%(prog)s {'[CONFIG]' if checkpoint else 'CONFIG'} [options] [key=value ...]"
    p.epilog = "key=value arguments override config keys (e.g. train.iters=100); values are parsed as YAML."
    if checkpoint:
        p.epilog += (" A checkpoint holds its config: CONFIG and overrides may change only how the model runs "
                     "(key interval, policy, a flow that needs no training, data, device), not what it learned.")
        p.add_argument("config", nargs="?", help="YAML config file (default: the checkpoint's own)")
    else:
        p.add_argument("config", help="YAML config file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    if checkpoint:
        p.add_argument("--checkpoint", help="checkpoint (.pt) from dff train; not needed by a config that names a "
                                            "complete pretrained model (configs/pretrained/)")


def _add_train(sub) -> None:
    """`dff train`."""
    p = sub.add_parser("train", help="train a model")
    _common(p)
    p.add_argument("--work-dir", help="run directory (default runs/<config name>)")
    p.add_argument("--resume", metavar="auto|PATH",
                   help="continue a run exactly: 'auto' takes the newest loadable checkpoint in the work "
                        "dir (starting afresh when there is none), PATH a given one (model.load_from "
                        "initialises weights only)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in a work dir that holds an earlier run, removing that run's files")
    p.set_defaults(fn=cmd_train)


def _add_eval(sub) -> None:
    """`dff eval`."""
    p = sub.add_parser("eval", help="mIoU per key-frame distance on the val split")
    _common(p, checkpoint=True)
    p.add_argument("--key-interval", type=_int_at_least(1), help="K: distances 0..K-1 (default model.key_interval)")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--policy", action="append", choices=["fixed"],
                   help="also run the val clips as videos under this key-frame policy")
    p.add_argument("--motion-bins", type=_motion_edges, default=[2.0, 8.0], metavar="EDGES|none",
                   help="also score pairs binned by mean DIS flow magnitude to the key, in pixels "
                        "(default 2,8: bins 0-2, 2-8, 8+); none turns it off")
    p.add_argument("--against", choices=["labels", "teacher"], default="labels",
                   help="teacher: also score every frame, labelled or not, against the key network's own "
                        "output on it (agreement; mIoU too where labels exist)")
    p.add_argument("--no-consistency", dest="consistency", action="store_false",
                   help="skip the temporal consistency of the val clips run as videos with a key every K frames "
                        "(VC_8 and VC_16 against the labels, TC along DIS flow)")
    p.set_defaults(fn=cmd_eval)


def _add_infer(sub) -> None:
    """`dff infer`."""
    p = sub.add_parser("infer", help="segment a video, frame folder, webcam or stream URL into a video or label PNGs")
    _common(p, checkpoint=True)
    p.add_argument("--input", help="video file, frame folder, glob, webcam index or stream URL (rtsp://, http://)")
    p.add_argument("--output", help="output video (.mp4), or a folder for --mode labels")
    p.add_argument("--input-list", metavar="FILE",
                   help="instead of --input: a file of inputs, one per line; with --output-dir, one output each "
                        "(existing ones skipped), DIR/manifest.jsonl; under torchrun each process takes its share")
    p.add_argument("--output-dir", metavar="DIR", help="with --input-list: where the outputs go")
    p.add_argument("--mode", default="overlay", choices=["overlay", "side-by-side", "colour", "labels"],
                   help="overlay (default), side-by-side (frame | colour mask), colour (mask video), "
                        "labels (class-id palette PNGs per frame)")
    p.add_argument("--alpha", type=_opacity, default=0.5, help="overlay opacity of the colours (default 0.5)")
    p.add_argument("--palette", choices=["voc", "davis", "camvid", "cityscapes", "synthetic"],
                   help="class colours (default: data.dataset's)")
    p.add_argument("--codec", choices=["h264", "mp4v"],
                   help="h264 (browser-playable, needs dff[video]) or mp4v; default h264 when PyAV is installed")
    p.add_argument("--preset", choices=["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                        "slower", "veryslow"],
                   help="h264's x264 preset: ultrafast (default) is the fastest; veryfast makes ~2.3x smaller files "
                        "for ~4x the encoding CPU")
    p.add_argument("--key-interval", type=_int_at_least(1), help="key frame every K frames (default model.key_interval)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--allow-truncated", action="store_true",
                   help="segment what decodes of a truncated video instead of failing")
    p.add_argument("--show-flow", action="store_true", help="draw the flow to the key frame beside the video")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="onnxruntime: run the graphs of --onnx DIR (dff export) instead; no CONFIG or checkpoint")
    p.add_argument("--onnx", metavar="DIR", help="a folder dff export wrote (with --backend onnxruntime)")
    p.add_argument("--realtime", action="store_true",
                   help="live sources (webcam index, rtsp:// or http:// URL): frames that arrive while the model is "
                        "busy are dropped and counted, never queued")
    p.add_argument("--threads", type=_int_at_least(1),
                   help="the model's CPU threads (default: torch's less one, a core for decoding and encoding, "
                        "which run in threads beside it; with one, the next key network runs beside propagation "
                        "on a CPU of its own)")
    p.set_defaults(fn=cmd_infer)


def _add_export(sub) -> None:
    """`dff export`."""
    p = sub.add_parser("export", help="a trained model as ONNX graphs: key.onnx, propagate.onnx, export.json")
    _common(p, checkpoint=True)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=_size, default=None,
                   help="frame HxW the graphs take (default: the model's short side at 16:9, e.g. 240x427)")
    p.add_argument("--opset", type=_opset, default=17,
                   help="ONNX opset (default 17; grid_sample needs >= 16; TensorRT mis-handles GridSample at 20)")
    p.add_argument("--overwrite", action="store_true", help="replace an export folder dff wrote")
    p.set_defaults(fn=cmd_export)


def _add_bench(sub) -> None:
    """`dff bench`."""
    p = sub.add_parser("bench", help="per-module latency and throughput of per-frame vs DFF")
    _common(p, checkpoint=True)
    p.add_argument("--size", type=_size, default=(512, 1024), help="input HxW (default 512x1024)")
    p.add_argument("--key-intervals", type=_key_intervals, default=[1, 5, 10], help="comma-separated k values")
    p.add_argument("--reps", type=_int_at_least(1), default=5, help="timed repetitions per module")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(fn=cmd_bench)


def _add_tradeoff(sub) -> None:
    """`dff tradeoff`."""
    p = sub.add_parser("tradeoff", help="every size x key interval x flow on the accuracy-throughput plane against "
                                        "per-frame at every size")
    _common(p, checkpoint=True)
    p.add_argument("--sizes", type=_short_sides, default=[240, 320, 400], metavar="S,S,...",
                   help="short sides of the frames (default 240,320,400); accuracy is scored at the largest's labels")
    p.add_argument("--key-intervals", type=_key_intervals, default=[1, 2, 3, 5, 10],
                   help="k values (default 1,2,3,5,10); per-frame (k=1) at every size is always in")
    p.add_argument("--flows", type=_flows, default=["learned", "dis"],
                   help="learned (the model's own flow network), dis, zero; comma-separated (default learned,dis)")
    p.add_argument("--against", choices=["labels", "teacher"], default="labels",
                   help="teacher: agreement with the key network at the largest size on every frame (unlabelled "
                        "footage; data.dataset video)")
    p.add_argument("--max-frames", type=_int_at_least(0), default=0,
                   help="key positions scored per size and flow, evenly spaced (default 0: all)")
    p.add_argument("--reps", type=_int_at_least(1), default=3, help="timed rounds after a warm-up (default 3)")
    p.add_argument("--out", default="runs/tradeoff", help="folder for tradeoff.json/.csv/.md/.png (default runs/tradeoff)")
    p.add_argument("--overwrite", action="store_true", help="replace the four files of an earlier tradeoff in --out")
    p.set_defaults(fn=cmd_tradeoff)


def _add_demo(sub) -> None:
    """`dff demo`."""
    p = sub.add_parser("demo", help="synthetic data -> train -> eval -> segmentation video")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--iters", type=_int_at_least(1), default=None, help="training iterations (default: the demo config's)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier demo in --out")
    p.set_defaults(fn=cmd_demo)


def _add_make_synthetic(sub) -> None:
    """`dff make-synthetic`."""
    p = sub.add_parser("make-synthetic", help="write a synthetic labelled video set")
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=_int_at_least(1), default=6, help="training sequences")
    p.add_argument("--val", type=_int_at_least(0), default=2, help="validation sequences")
    p.add_argument("--frames", type=_int_at_least(2), default=20)
    p.add_argument("--height", type=_int_at_least(16), default=96)
    p.add_argument("--width", type=_int_at_least(16), default=128)
    p.add_argument("--classes", type=_int_at_least(2), default=4)
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--motion", default="steady", choices=("steady", "bursty", "chairs"),
                   help="bursty: stop-and-go stretches instead of constant speed; chairs: flow pretraining data, "
                        "4-7 objects with displacements up to ~30 px per frame at 240 px height, rotation and zoom")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(fn=cmd_make_synthetic)


def _add_check_data(sub) -> None:
    """`dff check-data`."""
    p = sub.add_parser("check-data", help="frame/label counts, label values and problems of a dataset")
    p.usage = "%(prog)s CONFIG [key=value ...]"
    p.add_argument("config", help="YAML config file")
    p.set_defaults(fn=cmd_check_data)


def _add_config(sub) -> None:
    """`dff config`."""
    p = sub.add_parser("config", help="every config key with its default and meaning")
    p.add_argument("--markdown", action="store_true", help="as the markdown table of docs/config.md")
    p.set_defaults(fn=cmd_config)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dff", description="Video segmentation by deep feature flow.")
    sub = ap.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_eval(sub)
    _add_infer(sub)
    _add_export(sub)
    _add_bench(sub)
    _add_tradeoff(sub)
    _add_demo(sub)
    _add_make_synthetic(sub)
    _add_check_data(sub)
    _add_config(sub)
    return ap


class Terminated(BaseException):
    """SIGTERM, raised where the process is (a BaseException: nothing catches it by accident)."""


def _terminated(signum, frame):
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may sit anywhere among the options, so they are what parse_known_args leaves.
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "config", None) and "=" in args.config and not Path(args.config).exists():
        rest, args.config = [args.config, *rest], None  # an override where the optional CONFIG may stand
    bad = [o for o in rest if "=" not in o or o.startswith("-") or not hasattr(args, "config")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config overrides are key=value)")
    args.overrides = rest
    # SIGTERM unwinds like Ctrl-C, so every writer's temp-file cleanup (on BaseException) runs.
    previous = signal.signal(signal.SIGTERM, _terminated) if threading.current_thread() is threading.main_thread() else None
    shown = warnings.showwarning
    # a warning is one line as an error is, not Python's two with the source line that warned
    warnings.showwarning = lambda message, *_, **__: tqdm.write(f"dff {args.command}: warning: {message}", sys.stderr)
    try:
        return args.fn(args) or 0
    except (ConfigError, OSError, ValueError, ImportError, FloatingPointError) as e:  # OSError: I/O, one line
        print(f"dff {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dff {args.command}: interrupted; finished outputs kept, temp files removed", file=sys.stderr)
        return 130
    except Terminated:
        print(f"dff {args.command}: terminated; finished outputs kept, temp files removed", file=sys.stderr)
        return 143
    finally:
        warnings.showwarning = shown
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
