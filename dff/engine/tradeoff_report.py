"""What `dff tradeoff` concludes and writes: the Pareto front, the gain of each propagated setting
over the per-frame curve at its throughput, and tradeoff.json / .csv / .md / .png."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from pathlib import Path

import torch

from ..io.outputs import check_file, refuse_inputs
from ..io.publish import write_atomic

FILES = ("tradeoff.json", "tradeoff.csv", "tradeoff.md", "tradeoff.png")
COLUMNS = ("name", "short_side", "size", "key_interval", "flow", "accuracy", "vc_8", "vc_16", "tc", "fps",
           "latency_mean_ms", "latency_key_ms", "latency_nonkey_ms", "latency_max_ms", "on_front",
           "per_frame_at_fps", "gain_points")


def check_out(out: str | os.PathLike, overwrite: bool, inputs: dict) -> None:
    """The output folder may take the four files: not an input or inside one, not a file, none of
    them there already unless overwrite. Checked before any work."""
    refuse_inputs(out, inputs)
    if Path(out).exists() and not Path(out).is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    for name in FILES:
        check_file(Path(out) / name, overwrite)


def machine(device: torch.device) -> str:
    """The hardware the figures were timed on, in one line."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def mark_front(rows: list[dict]) -> None:
    """on_front: no other setting is at least as fast and as accurate, and better in one."""
    for r in rows:
        r["on_front"] = not any(o["fps"] >= r["fps"] and o["accuracy"] >= r["accuracy"]
                                and (o["fps"] > r["fps"] or o["accuracy"] > r["accuracy"]) for o in rows)


def per_frame_at(curve: list[tuple[float, float]], fps: float) -> tuple[float, str]:
    """The per-frame curve's accuracy at fps (linear in log frames/s between its two neighbours),
    and where: "" inside it, else it is clamped to the nearest end and the reason says which."""
    if fps >= curve[-1][0]:
        return curve[-1][1], "faster than per-frame at every size: against the fastest"
    if fps <= curve[0][0]:
        return curve[0][1], "slower than every per-frame size: against the slowest"
    for (f0, a0), (f1, a1) in zip(curve, curve[1:]):
        if f0 <= fps <= f1:
            w = (math.log(fps) - math.log(f0)) / (math.log(f1) - math.log(f0))
            return a0 + w * (a1 - a0), ""
    raise AssertionError("unreachable: fps lies inside the curve")


def conclude(result: dict) -> list[str]:
    """Mark the front and each propagated setting's gain over per-frame at its throughput (in
    points: 100 x accuracy); one verdict line per propagated setting on the front, and a last line."""
    rows = result["rows"]
    curve = sorted((r["fps"], r["accuracy"]) for r in rows if r["flow"] is None)
    mark_front(rows)
    lines = []
    for r in rows:
        r["per_frame_at_fps"] = r["gain_points"] = None
        if r["flow"] is None or not curve:
            continue
        ref, where = per_frame_at(curve, r["fps"])
        r["per_frame_at_fps"], r["gain_points"] = ref, 100 * (r["accuracy"] - ref)
        if r["on_front"]:
            lines.append(f"{r['name']}: {r['gain_points']:+.2f} points vs per-frame at {r['fps']:.1f} frames/s "
                         f"({r['accuracy']:.4f} against {ref:.4f}{'; ' + where if where else ''})")
    paying = [r for r in rows if r["on_front"] and (r["gain_points"] or 0) > 0]
    if paying:
        best = max(paying, key=lambda r: r["gain_points"])
        lines.append(f"propagation pays on this data: at best {best['gain_points']:+.2f} points ({best['name']})")
    else:
        lines.append("propagation does not pay on this data")
    result["verdicts"] = lines
    return lines


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) <= 1 else f"{value:.1f}"
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    return str(value)


def to_markdown(result: dict) -> str:
    """The table as markdown, with what was measured and how above it."""
    heads = ("setting", "size", "k", "flow", result["metric"], "VC_8", "VC_16", "TC", "frames/s", "mean ms",
             "key ms", "max ms", "front", "vs per-frame (points)")
    keys = ("name", "size", "key_interval", "flow", "accuracy", "vc_8", "vc_16", "tc", "fps", "latency_mean_ms",
            "latency_key_ms", "latency_max_ms", "on_front", "gain_points")
    lines = [f"# dff tradeoff: {result.get('source', '')}", "",
             f"{result['metric']} on the val split at {result['label_size'][0]}x{result['label_size'][1]} "
             f"(the largest size's labels{', the key network there as teacher' if result['metric'] == 'agreement' else ''})"
             f"; {result.get('key_positions', 'all key positions')}; timed on {result.get('machine', '?')}, "
             "batch 1, every setting in turns.", ""]
    lines += [f"- {n}" for n in result["notes"]] + ([""] if result["notes"] else [])
    lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in result["rows"]:
        cells = [_cell(r.get(k)) for k in keys]
        cells[-1] = "-" if r.get("gain_points") is None else f"{r['gain_points']:+.2f}"
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"- {v}" for v in result.get("verdicts", [])]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("x".join(map(str, r[k])) if isinstance(r.get(k), list) else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def plot(result: dict, path: Path) -> None:
    """Accuracy against frames/s (log x): the per-frame curve, every propagated setting by flow,
    the front circled, each point labelled. ImportError without matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = result["rows"]
    base = sorted((r for r in rows if r["flow"] is None), key=lambda r: r["fps"])
    ax.plot([r["fps"] for r in base], [r["accuracy"] for r in base], "k-o", label="per-frame (key network every frame)")
    for flow, marker in (("learned", "^"), ("dis", "s"), ("zero", "x")):
        pts = [r for r in rows if r["flow"] == flow]
        if pts:
            ax.scatter([r["fps"] for r in pts], [r["accuracy"] for r in pts], marker=marker, label=f"DFF, {flow} flow")
    front = [r for r in rows if r.get("on_front")]
    ax.scatter([r["fps"] for r in front], [r["accuracy"] for r in front], s=160, facecolors="none",
               edgecolors="red", label="Pareto front")
    for r in rows:
        text = f"{r['short_side']}" if r["flow"] is None else f"{r['short_side']} k{r['key_interval']}"
        ax.annotate(text, (r["fps"], r["accuracy"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"frames/s ({result.get('machine', '')[:60]})", fontsize=8)
    ax.set_ylabel(f"{result['metric']} (val)")
    ax.set_title(f"dff tradeoff: {result.get('source', '')}"[:90], fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))


def write_report(result: dict, out: str | os.PathLike) -> list[str]:
    """Write the four files (each atomically); the names written, and a line for a plot not drawn."""
    out = Path(out)
    write_atomic(out / "tradeoff.json", lambda tmp: tmp.write_text(json.dumps(result, indent=2) + "\n"))
    write_atomic(out / "tradeoff.csv", lambda tmp: tmp.write_text(to_csv(result["rows"])))
    write_atomic(out / "tradeoff.md", lambda tmp: tmp.write_text(to_markdown(result)))
    written = [str(out / n) for n in FILES[:3]]
    try:
        plot(result, out / "tradeoff.png")
        written.append(str(out / "tradeoff.png"))
    except ImportError:
        written.append('tradeoff.png not drawn: matplotlib is not installed (pip install "dff[plot]")')
    return written
