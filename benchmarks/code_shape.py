"""The shape of the code a newcomer reads: lines per package, the longest functions and those with
the most parameters (self and cls not counted), and docstrings that name a tracker issue.

    python benchmarks/code_shape.py [dff] [--max-lines 80] [--max-params 8]
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ISSUE = re.compile(r"\b(issue|task)[ -]?#?\d+|#\d{2,}\b", re.IGNORECASE)


def functions(root: Path):
    """(lines, parameters, 'file:line name') of every function under root."""
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
                n = len(params) - (bool(a.args) and a.args[0].arg in ("self", "cls"))
                yield node.end_lineno - node.lineno + 1, n, f"{path}:{node.lineno} {node.name}"


def issue_docstrings(root: Path) -> list[str]:
    """'file:line' of docstrings that name a tracker issue."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and ISSUE.search(doc):
                    found.append(f"{path}:{getattr(node, 'lineno', 1)}")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default="dff", type=Path)
    ap.add_argument("--max-lines", type=int, default=80)
    ap.add_argument("--max-params", type=int, default=8)
    args = ap.parse_args()
    for package in sorted(p for p in args.root.iterdir() if p.is_dir() and any(p.rglob("*.py"))):
        print(f"{package}: {sum(len(f.read_text().splitlines()) for f in package.rglob('*.py'))} lines")
    rows = list(functions(args.root))
    longest = max(rows)
    print(f"longest function: {longest[2]} ({longest[0]} lines)")
    for lines, params, where in sorted(rows, reverse=True):
        if lines > args.max_lines:
            print(f"over {args.max_lines} lines: {where} ({lines})")
    for lines, params, where in sorted(rows, key=lambda r: -r[1]):
        if params > args.max_params:
            print(f"over {args.max_params} parameters: {where} ({params})")
    for where in issue_docstrings(args.root):
        print(f"docstring names a tracker issue: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
