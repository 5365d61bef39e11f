"""Research studies on dff: key-frame policies, placement bounds, flow against ground truth.

Run from the repository root as `python -m experiments.<study>`; see experiments/README.md.
"""
