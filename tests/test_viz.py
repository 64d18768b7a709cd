"""sparsegrad.viz: the DOT text of a graph (nodes, edges, a shared tensor once), and `render`
with Graphviz's real `dot` (skipped where it is not installed) or a clear error without it."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from sparsegrad import Tensor
from sparsegrad.viz import render, to_dot

NODE = re.compile(r'^\s*(\w+) \[label="(.*?)"')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);")


def parse(dot: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The DOT text's nodes (id -> label, braces dropped) and edges (in order, repeats kept)."""
    nodes = {m[1]: m[2].strip("{}") for m in map(NODE.match, dot.splitlines()) if m}
    edges = [(m[1], m[2]) for m in map(EDGE.match, dot.splitlines()) if m]
    return nodes, edges


def small_expression() -> dict[str, Tensor]:
    x = Tensor(np.ones((4, 3)))
    W = Tensor(np.ones((3, 2)), requires_grad=True)  # noqa: N806 (a matrix)
    b = Tensor(np.zeros(2), requires_grad=True)
    h = x @ W
    z = h + b
    loss = (z.sigmoid() ** 2).mean()
    return {"x": x, "W": W, "b": b, "h": h, "z": z, "loss": loss}


def test_a_small_expression_has_its_nodes_and_edges():
    t = small_expression()
    nodes, edges = parse(to_dot(t["loss"]))
    node = {name: f"t{tensor._serial}" for name, tensor in t.items()}
    assert nodes[node["x"]] == "leaf | (4, 3) | requires_grad=False"
    assert nodes[node["W"]] == "leaf | (3, 2) | requires_grad=True"
    assert nodes[node["b"]] == "leaf | (2,) | requires_grad=True"
    assert nodes[node["h"]] == "MatMul | (4, 2)"
    assert nodes[node["z"]] == "Add | (4, 2)"
    assert nodes[node["loss"]] == "Mean | ()"
    ops = sorted(label.split(" | ")[0] for label in nodes.values())
    assert ops == ["2", "Add", "MatMul", "Mean", "Pow", "Sigmoid", "leaf", "leaf", "leaf"]  # 2: Pow's exponent
    by_label = {label.split(" | ")[0]: n for n, label in nodes.items()}
    sigmoid, power, exponent = by_label["Sigmoid"], by_label["Pow"], by_label["2"]
    assert sorted(edges) == sorted([
        (node["x"], node["h"]), (node["W"], node["h"]), (node["h"], node["z"]), (node["b"], node["z"]),
        (node["z"], sigmoid), (sigmoid, power), (exponent, power), (power, node["loss"])])


def test_names_label_the_tensors_they_name():
    t = small_expression()
    nodes, _ = parse(to_dot(t["loss"], names={"W": t["W"], "loss": t["loss"]}))
    assert nodes[f"t{t['W']._serial}"] == "W | leaf | (3, 2) | requires_grad=True"
    assert nodes[f"t{t['loss']._serial}"] == "loss | Mean | ()"


def test_a_shared_subexpression_appears_once():
    x = Tensor(np.arange(3.0), requires_grad=True)
    a = x * x
    out = (a.sigmoid() + a.tanh()) + a  # `a` feeds three ops
    nodes, edges = parse(to_dot(out.sum()))
    a_node = f"t{a._serial}"
    assert list(nodes.values()).count("Mul | (3,)") == 1
    assert [e[1] for e in edges if e[0] == a_node] == [f"t{a._serial + 1}", f"t{a._serial + 2}", f"t{out._serial}"]
    assert edges.count((f"t{x._serial}", a_node)) == 2  # x * x: both of Mul's inputs
    assert len(nodes) == sum(line.count("[label=") for line in to_dot(out.sum()).splitlines())  # no id twice


def test_a_leaf_alone_and_a_graph_after_backward():
    leaf = Tensor(np.zeros((2, 2)), requires_grad=True)
    assert parse(to_dot(leaf)) == ({f"t{leaf._serial}": "leaf | (2, 2) | requires_grad=True"}, [])
    loss = (leaf * 3.0).sum()
    loss.backward()  # frees what backward needed, not the graph's shape
    nodes, edges = parse(to_dot(loss))
    assert sorted(nodes.values()) == ["3.0", "Mul | (2, 2)", "Sum | ()", "leaf | (2, 2) | requires_grad=True"]


def test_labels_are_escaped():
    x = Tensor(np.ones(2), requires_grad=True)
    dot = to_dot(x.sum(), names={'a "quoted" {name} | <x>': x})
    assert r'a \"quoted\" \{name\} \| \<x\>' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_render_draws_with_graphviz(tmp_path, suffix):
    t = small_expression()
    path = render(t["loss"], tmp_path / f"graph{suffix}", names={"W": t["W"]})
    assert path == tmp_path / f"graph{suffix}"
    data = path.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        svg = data.decode()
        assert "<svg" in svg and ">MatMul<" in svg and ">W<" in svg and ">requires_grad=True<" in svg


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
def test_every_label_is_valid_dot(tmp_path):
    x = Tensor(np.ones(2), requires_grad=True)
    dot = to_dot((x * np.float64(2.5)).sum(), names={'odd "name" {|<>} \\ end': x})
    done = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr, done.stderr


def test_render_without_dot_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # a real PATH with no `dot` on it
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError) as error:
        render(Tensor(np.ones(2), requires_grad=True).sum(), tmp_path / "graph.svg")
    message = str(error.value)
    assert "\n" not in message
    assert "apt-get install graphviz" in message and "brew install graphviz" in message and "to_dot" in message
    assert not (tmp_path / "graph.svg").exists()


def test_render_wants_svg_or_png(tmp_path):
    with pytest.raises(ValueError, match=r"graph\.pdf should end in \.svg or \.png"):
        render(Tensor(np.ones(2), requires_grad=True).sum(), tmp_path / "graph.pdf")
