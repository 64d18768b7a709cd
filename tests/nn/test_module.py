"""Module: parameters, zero_grad, train/eval, state_dict round trip, repr; Sequential; activations."""

import re

import numpy as np
import pytest

from sparsegrad import Tensor
from sparsegrad.nn import Identity, Linear, Module, Parameter, ReLU, Sequential, Sigmoid, Tanh, activation


class Net(Module):
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.enc = Linear(3, 4, rng)
        self.block = Sequential(Linear(4, 4, rng), ReLU(), Linear(4, 2, rng))
        self.scale = Parameter(np.ones(2, dtype=np.float32))
        self.not_a_param = Tensor(np.zeros(2))  # a plain tensor is not a parameter

    def forward(self, x):
        return self.block(self.enc(x).tanh()) * self.scale


NAMES = ["enc.weight", "enc.bias", "block.0.weight", "block.0.bias", "block.2.weight", "block.2.bias", "scale"]


def all_modules(module):
    yield module
    for _, child in module.children():
        yield from all_modules(child)


def test_named_parameters_recursive_with_dotted_names():
    net = Net()
    named = list(net.named_parameters())
    assert [name for name, _ in named] == NAMES
    assert all(isinstance(p, Parameter) and p.requires_grad for _, p in named)
    assert net.parameters() == [p for _, p in named]
    assert [n for n, _ in net.block.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert net.enc.weight is dict(named)["enc.weight"]


def test_zero_grad_clears_every_parameter():
    net = Net()
    net(Tensor(np.ones((5, 3), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_eval_recursive():
    net = Net()
    assert all(m.training for m in all_modules(net))
    assert net.eval() is net
    assert not any(m.training for m in all_modules(net))
    net.block.train()
    assert net.block[1].training and not net.training
    net.train()
    assert all(m.training for m in all_modules(net))


def test_state_dict_holds_copies():
    net = Net()
    state = net.state_dict()
    assert list(state) == NAMES
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(state[name], p.data)
        assert not np.shares_memory(state[name], p.data)
    state["enc.weight"][...] = 42.0
    assert not np.any(net.enc.weight.data == 42.0)


def test_load_state_dict_round_trip_copies_in_place():
    source, target = Net(seed=1), Net(seed=2)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    assert not np.allclose(source(x).data, target(x).data)
    arrays = {name: p.data for name, p in target.named_parameters()}
    state = source.state_dict()
    target.load_state_dict(state)
    np.testing.assert_array_equal(source(x).data, target(x).data)
    for name, p in target.named_parameters():
        assert p.data is arrays[name]  # updated in place: optimizers keep their references
        assert not np.shares_memory(p.data, state[name])
    state["scale"][...] = -7.0
    assert not np.any(target.scale.data == -7.0)


def test_load_state_dict_through_npz(tmp_path):
    source, target = Net(seed=3), Net(seed=4)
    np.savez(tmp_path / "w.npz", **source.state_dict())
    with np.load(tmp_path / "w.npz") as f:
        target.load_state_dict(dict(f))
    for (_, a), (_, b) in zip(source.named_parameters(), target.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_wrong_shape_names_parameter_and_shapes():
    net = Net()
    state = net.state_dict()
    state["block.0.weight"] = np.zeros((5, 4))
    before = net.state_dict()
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "block.0.weight" in message and "(4, 4)" in message and "(5, 4)" in message
    for name, value in net.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_missing_and_unexpected_keys():
    net = Net()
    state = net.state_dict()
    del state["enc.bias"]
    with pytest.raises(KeyError, match="enc.bias"):
        net.load_state_dict(state)
    state = net.state_dict()
    state["extra.weight"] = np.zeros(1)
    with pytest.raises(KeyError, match="extra.weight"):
        net.load_state_dict(state)


def test_repr_is_readable():
    text = repr(Net())
    assert text.startswith("Net(")
    assert "(enc): Linear(in_features=3, out_features=4)" in text
    assert "(block): Sequential(" in text
    assert "(0): Linear(in_features=4, out_features=4)" in text
    assert "(1): ReLU()" in text
    assert re.search(r"\n    \(2\): Linear\(in_features=4, out_features=2\)", text)  # nested indent


def test_module_without_forward():
    with pytest.raises(NotImplementedError):
        Module()(Tensor([1.0]))


def test_a_forward_set_on_the_instance_is_what_calling_runs():
    lin = Linear(2, 2)
    lin.forward = lambda x: "patched"  # as with PyTorch: module(x) looks forward up on the module
    assert lin(Tensor([1.0, 2.0])) == "patched"


def test_calling_a_module_runs_its_own_forward_unless_it_defines_call():
    class A(Module):
        def forward(self, x):
            return "A"

    class B(A):  # inherits forward
        pass

    class C(B):
        def forward(self, x):
            return "C"

    class Hooked(Module):  # a __call__ of its own, kept, also by subclasses
        def forward(self, x):
            return "H"

        def __call__(self, x):
            return "hooked " + self.forward(x)

    class HookedChild(Hooked):
        def forward(self, x):
            return "HC"

    class NoForward(Module):
        pass

    assert [m(0) for m in (A(), B(), C(), Hooked(), HookedChild())] == ["A", "A", "C", "hooked H", "hooked HC"]
    with pytest.raises(NotImplementedError, match="NoForward defines no forward"):
        NoForward()(0)


def test_shared_module_parameters_listed_once():
    class Tied(Module):
        def __init__(self):
            self.a = Linear(2, 2)
            self.b = self.a

        def forward(self, x):
            return self.b(self.a(x))

    params = Tied().parameters()
    assert len(params) == len({id(p) for p in params}) == 2


# ---- Sequential and activations --------------------------------------------------------------


def test_sequential_applies_in_order():
    rng = np.random.default_rng(5)
    lin = Linear(3, 3, rng)
    lin.bias.data[...] = -0.5
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    relu_after = Sequential(lin, ReLU())(x).data
    relu_before = Sequential(ReLU(), lin)(x).data
    np.testing.assert_allclose(relu_after, np.maximum(x.data @ lin.weight.data - 0.5, 0), rtol=1e-6)
    np.testing.assert_allclose(relu_before, np.maximum(x.data, 0) @ lin.weight.data - 0.5, rtol=1e-6)
    assert not np.allclose(relu_after, relu_before)


def test_sequential_container_protocol():
    mods = [Linear(2, 3), Tanh(), Linear(3, 1), Sigmoid()]
    seq = Sequential(*mods)
    assert len(seq) == 4
    assert list(seq) == mods
    assert seq[2] is mods[2] and seq[-1] is mods[3]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(Sequential()) == 0


@pytest.mark.parametrize(
    "name, cls, reference",
    [
        ("relu", ReLU, lambda x: np.maximum(x, 0)),
        ("sigmoid", Sigmoid, lambda x: 1 / (1 + np.exp(-x))),
        ("tanh", Tanh, np.tanh),
        ("identity", Identity, lambda x: x),
    ],
)
def test_activation_modules(name, cls, reference):
    module = activation(name)
    assert isinstance(module, cls)
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(module(Tensor(x)).data, reference(x), rtol=1e-7)
    assert list(module.parameters()) == []


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'.*relu"):
        activation("gelu")
