"""Run logs: metrics.jsonl always, TensorBoard scalars when the tensorboard package is installed."""
from __future__ import annotations

import json
from pathlib import Path


def _tensorboard_writer(log_dir: Path):
    """A SummaryWriter, or None without the optional tensorboard package (pip install dff[tensorboard])."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(log_dir))


def _scalars(record: dict, prefix: str = ""):
    """(tag, value) of every number in a (nested) record, e.g. val/mean_miou."""
    for k, v in record.items():
        if isinstance(v, dict):
            yield from _scalars(v, f"{prefix}{k}/")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k != "iter":
            yield f"{prefix}{k}", v


class RunLog:
    """One JSON line per record in work_dir/metrics.jsonl (appended to on resume), mirrored to
    TensorBoard in work_dir/tb; writes nothing when not enabled (ranks other than 0)."""

    def __init__(self, work_dir: str | Path, enabled: bool = True):
        self.file = open(Path(work_dir) / "metrics.jsonl", "a") if enabled else None
        self.tb = _tensorboard_writer(Path(work_dir) / "tb") if enabled else None

    def write(self, record: dict) -> None:
        """Log a record with an "iter" entry."""
        if self.file is None:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            for tag, v in _scalars(record):
                self.tb.add_scalar(tag, v, record["iter"])

    def close(self) -> None:
        """Flush and close."""
        if self.file is not None:
            self.file.close()
        if self.tb is not None:
            self.tb.close()
