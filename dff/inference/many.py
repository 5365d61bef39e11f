"""`dff infer --input-list FILE --output-dir DIR`: thousands of videos, one model load per process.

One output per input; an input whose output exists is skipped (a rerun resumes); a video that
fails is recorded and skipped. Under `torchrun --nproc-per-node N` rank r takes inputs r, r + N,
...; each rank appends its records to a part file and rank 0 merges them, in list order, into
DIR/manifest.jsonl (one line per video: frames, seconds, frames/s, key frames, error).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from ..engine.processes import barrier, setup_distributed, teardown
from ..io.outputs import naming, refuse_inputs
from ..io.publish import write_atomic
from .options import InferOptions
from .video import build_segmenter, run_video

MANIFEST = "manifest.jsonl"


def read_list(path: str | Path) -> list[str]:
    """Inputs of a list file: one path per line; blank lines and lines starting with # skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: input list not found")
    inputs = [line.strip() for line in path.read_text().splitlines()]
    inputs = [line for line in inputs if line and not line.startswith("#")]
    if not inputs:
        raise ValueError(f"{path}: lists no inputs")
    return inputs


def output_names(inputs: list[str], output_dir: Path, mode: str) -> list[Path]:
    """DIR/<name>.mp4 (DIR/<name>/ for labels), <name> the input's stem (leading dots dropped: no
    output is hidden), with -<line index> where two inputs share a stem; no two outputs, nor an
    output and the manifest, ever share a name (compared without case, for case-blind disks)."""
    stems = [Path(i.rstrip("/")).stem.lstrip(".") or f"input{n}" for n, i in enumerate(inputs)]
    shared = {s for s, c in Counter(stems).items() if c > 1}
    suffix = "" if mode == "labels" else ".mp4"
    taken, names = {MANIFEST.lower()}, []
    for n, s in enumerate(stems):
        name = f"{s}-{n}" if s in shared else s
        while f"{name}{suffix}".lower() in taken:
            name = f"{name}-{n}"
        taken.add(f"{name}{suffix}".lower())
        names.append(output_dir / f"{name}{suffix}")
    return names


def refuse_listed_outputs(inputs: list[str], list_file: str | Path, output_dir: Path) -> None:
    """FileExistsError when a listed input is, holds or lies in the output folder (its videos,
    label folders or manifest): outputs never land on inputs."""
    for source in inputs:
        if "://" not in source and not source.isdigit():  # stream URLs and webcams are no paths
            refuse_inputs(output_dir, {f"input {source} listed in {list_file}": source})


def _read_manifest(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["input"]: r for r in records}


def run_list(cfg: dict | None, checkpoint: str | None, list_file: str | Path, output_dir: str | Path,
             opts: InferOptions = InferOptions(), ckpt: dict | None = None) -> dict:
    """Segment every input of list_file into output_dir (as video.infer_video; existing outputs
    are kept, so opts.overwrite and opts.show_flow do not apply); on rank 0 a summary {"videos",
    "done" ("earlier": of them by an earlier run), "skipped" (output there, no record), "failed",
    "manifest"}."""
    refuse_inputs(output_dir, {"config": opts.config, "checkpoint": checkpoint, "onnx": opts.onnx,
                               "input list": list_file})
    inputs, output_dir = read_list(list_file), Path(output_dir)
    refuse_listed_outputs(inputs, list_file, output_dir)
    outputs = output_names(inputs, output_dir, opts.mode)
    ctx = setup_distributed(opts.device)
    try:
        opts = replace(opts, device=str(ctx.device), progress=False)
        seg = build_segmenter(cfg, checkpoint, opts, ckpt)
        output_dir.mkdir(parents=True, exist_ok=True)
        previous = _read_manifest(output_dir / MANIFEST)
        part = output_dir / f".{MANIFEST}.rank{ctx.rank}"
        part.unlink(missing_ok=True)
        try:
            for i in range(ctx.rank, len(inputs), ctx.world_size):
                record = _segment_one(seg, i, inputs, outputs, previous.get(inputs[i], {}), ctx.rank, opts)
                with naming(part), part.open("a") as f:
                    f.write(json.dumps(record) + "\n")
        except BaseException:  # interrupted: no part file left behind (the outputs written stay)
            part.unlink(missing_ok=True)
            raise
        barrier(ctx)
        if not ctx.main:
            return {}
        return _merge(output_dir, ctx.world_size, len(inputs))
    finally:
        teardown(ctx)


def _segment_one(seg, i: int, inputs: list[str], outputs: list[Path], old: dict, rank: int,
                 opts: InferOptions) -> dict:
    """Input i's manifest record: segmented now, done by an earlier run (old: its record), or failed."""
    record = {"index": i, "input": inputs[i], "output": str(outputs[i]), "rank": rank}
    if outputs[i].exists():  # done by an earlier run: its record, if the manifest has it
        record.update({**{k: v for k, v in old.items() if k not in record}, "earlier": True}
                      if old.get("status") == "done" else {"status": "skipped", "error": None})
    else:
        try:
            res = run_video(seg, inputs[i], str(outputs[i]), opts)
            record.update({"status": "done", "frames": res["frames_written"], "seconds": res["seconds"],
                           "fps": round(res["fps_processed"], 3), "key_frames": res["key_frames"], "error": None})
        except (OSError, ValueError, RuntimeError) as e:  # this video fails, the next one runs
            record.update({"status": "failed", "error": f"{type(e).__name__}: {e}"})
    print(f"[{i + 1}/{len(inputs)}] {inputs[i]}: {record['status']}"
          f"{' (' + record['error'] + ')' if record.get('error') else ''}", flush=True)
    return record


def _merge(output_dir: Path, world: int, count: int) -> dict:
    """Rank 0: the part files into DIR/manifest.jsonl in list order (written atomically)."""
    parts = [output_dir / f".{MANIFEST}.rank{r}" for r in range(world)]
    records = sorted((json.loads(line) for p in parts if p.is_file() for line in p.read_text().splitlines()),
                     key=lambda r: r["index"])
    if len(records) != count:
        raise RuntimeError(f"{output_dir}: {len(records)} of {count} videos recorded by the {world} processes")
    path = output_dir / MANIFEST
    write_atomic(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records)))
    for p in parts:
        p.unlink(missing_ok=True)
    status = Counter(r["status"] for r in records)
    return {"videos": count, "done": status["done"], "earlier": sum(bool(r.get("earlier")) for r in records),
            "skipped": status["skipped"], "failed": status["failed"], "manifest": str(path)}
