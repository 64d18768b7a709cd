"""Neural-network building blocks: Module, Linear, Sequential, activations, AutoEncoder."""

from sparsegrad.nn.activation import Identity, ReLU, Sigmoid, Tanh, TopK, activation
from sparsegrad.nn.autoencoder import AutoEncoder
from sparsegrad.nn.linear import Linear
from sparsegrad.nn.module import Module, Parameter
from sparsegrad.nn.sequential import Sequential

__all__ = ["Module", "Parameter", "Linear", "Sequential", "ReLU", "Sigmoid", "Tanh",
           "TopK", "Identity", "activation", "AutoEncoder"]
