"""Training: the loop (loop.py) and its parts, one file each (step, objective, optim,
distributed, resume, runlog)."""
from .loop import train

__all__ = ["train"]
