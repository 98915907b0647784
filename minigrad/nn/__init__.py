"""Layers and models: `Module`, `Sequential` and the layers a GAN is built from.

    from minigrad import nn
    model = nn.Sequential(nn.Dense(784, 256), nn.LeakyReLU(0.2), nn.Dense(256, 1))
    model.parameters()          # [0.weight, 0.bias, 2.weight, 2.bias], trainable
    model.eval()                # BatchNorm uses running statistics, Dropout is off
"""
from . import init
from .averaging import ExponentialMovingAverage
from .batchnorm import BatchNorm, LayerNorm
from .conv import Conv2D, ConvTranspose2D, UpSampling2D
from .layers import (Dense, Dropout, Embedding, Flatten, GaussianNoise, LeakyReLU, ReLU, Reshape,
                     Sigmoid, Softmax, Softplus, Tanh, WeightNormDense)
from .module import Module, Sequential
from .spectral_norm import SpectralNorm

__all__ = ["Module", "Sequential", "Dense", "WeightNormDense", "Embedding", "Conv2D", "ConvTranspose2D",
           "BatchNorm", "LayerNorm", "SpectralNorm", "ReLU", "LeakyReLU", "Softplus", "Tanh", "Sigmoid", "Softmax",
           "Dropout", "GaussianNoise", "Flatten", "Reshape",
           "UpSampling2D", "ExponentialMovingAverage", "init"]
