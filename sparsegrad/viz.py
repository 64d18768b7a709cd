"""Pictures of the graph that made a tensor, as karpathy/micrograd's `draw_dot` draws them.

`to_dot(loss)` is the graph as Graphviz DOT text (plain text: no new dependency), one box
per tensor, oldest first: a leaf shows its shape and whether it requires grad, any other
tensor the op that made it and its shape; an arrow runs from each input to the result.
`render(loss, "loss.svg")` hands that text to Graphviz's `dot` program to draw SVG or PNG.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparsegrad.tensor import Tensor

FORMATS = {".svg": "svg", ".png": "png"}
NO_DOT = ("render() needs Graphviz's `dot` program on PATH: apt-get install graphviz (Debian, Ubuntu), "
          "brew install graphviz (macOS), conda install graphviz, or https://graphviz.org/download; "
          "to_dot(tensor) gives the DOT text without it")


def _tensors(root: Tensor) -> list[Tensor]:
    """`root` and every tensor it was made from, each once, oldest first (by serial)."""
    found: dict[int, Tensor] = {}
    todo = [root]
    while todo:
        tensor = todo.pop()
        if id(tensor) not in found:
            found[id(tensor)] = tensor
            if tensor._ctx is not None:
                todo.extend(a for a in tensor._ctx.inputs if isinstance(a, Tensor))
    return sorted(found.values(), key=lambda t: t._serial)


def _escape(text: str, specials: str = "{}|<>") -> str:
    """`text` safe inside a quoted label (in a record's, braces, bars and angles are the record's own)."""
    for char in '\\"' + specials:
        text = text.replace(char, "\\" + char)
    return text


def _constant(value: Any) -> str:
    """A short label for an op's argument that is not a tensor (a number, an array, ...)."""
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    text = repr(value)
    return text if len(text) <= 20 else text[:17] + "..."


def to_dot(root: Tensor, names: Mapping[str, Tensor] | None = None) -> str:
    """The graph that made `root` as Graphviz DOT text; `names` labels chosen tensors ({"W": W})."""
    name_of = {id(t): name for name, t in (names or {}).items()}
    lines = ["digraph sparsegrad {", "  rankdir=LR;", "  node [shape=record];"]
    for tensor in _tensors(root):
        node = f"t{tensor._serial}"
        if tensor._ctx is None:
            fields = ["leaf", str(tensor.shape), f"requires_grad={tensor.requires_grad}"]
        else:
            fields = [type(tensor._ctx).__name__, str(tensor.shape)]
        if id(tensor) in name_of:
            fields.insert(0, name_of[id(tensor)])
        style = ', style=filled, fillcolor="lightblue"' if tensor._ctx is None and tensor.requires_grad else ""
        lines.append(f'  {node} [label="{{{" | ".join(_escape(f) for f in fields)}}}"{style}];')
        if tensor._ctx is None:
            continue
        for i, arg in enumerate(tensor._ctx.inputs):
            if isinstance(arg, Tensor):
                lines.append(f"  t{arg._serial} -> {node};")
            else:  # a number or other argument: a small node of its own
                label = _escape(_constant(arg), specials="")
                lines.append(f'  {node}_{i} [label="{label}", shape=plaintext];')
                lines.append(f"  {node}_{i} -> {node};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(root: Tensor, path: str | Path, names: Mapping[str, Tensor] | None = None) -> Path:
    """Draw the graph that made `root` into `path` (.svg or .png) with Graphviz's `dot`; the path."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"render(): {path.name} should end in .svg or .png")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(NO_DOT)
    done = subprocess.run([dot, f"-T{FORMATS[path.suffix.lower()]}", "-o", str(path)],
                          input=to_dot(root, names), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed (exit {done.returncode}): {done.stderr.strip()}")
    return path
