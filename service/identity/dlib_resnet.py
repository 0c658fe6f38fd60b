"""dlib's face descriptor network in PyTorch, its weights read from dlib's own model file.

dlib runs its ResNet-29 (``dlib_face_recognition_resnet_model_v1``) on one CPU core per call, about 75 ms a face,
and never on a GPU in the wheels we can install. The same network in PyTorch runs batched wherever the worker's
models run. Nothing is retrained or converted offline: the file that ``weights/manifest.json`` pins is parsed
at start-up, so the descriptors, and every distance threshold tuned on them, stay dlib's own (the tests compare
both on real faces).

The file is dlib's serialisation of the network: the loss layer's name, then the layers' parameters from the
input up, each after its version string. Integers are a length byte (high bit: negative) and little-endian
bytes; scalars are a mantissa and a power-of-two exponent; tensors are a shape and raw float32. The network,
as dlib's example defines it:
input ``(rgb - mean) / 256``; a 7×7 stride-2 convolution, affine (frozen batch norm), ReLU, 3×3 stride-2 max
pool; residual blocks of two 3×3 convolutions (conv, affine, ReLU, conv, affine, then ReLU of the sum), where a
block whose first convolution has stride 2 adds a 2×2 average pool of its input instead (dlib's ``add_prev``
pads the smaller operand with zeros, in channels and at the bottom-right); global average pool; a 256→128
linear map without bias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DIMENSION = 128


@dataclass(frozen=True)
class _Conv:
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray
    stride: int
    padding: int


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def integer(self) -> int:
        head = self.data[self.pos]
        size, negative = head & 0x0F, head & 0x80
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def scalar(self) -> float:
        mantissa = self.integer()
        return float(mantissa) * 2.0 ** self.integer()

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise ValueError(f"unknown dlib tensor version {version}")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.reshape(shape).astype(np.float32)

    def starts(self, version: str) -> list[int]:
        """Where each layer with this version string begins its parameters."""
        tag = bytes([1, len(version)]) + version.encode()
        return [match.end() for match in re.finditer(re.escape(tag), self.data)]


@dataclass(frozen=True)
class DlibWeights:
    mean_rgb: tuple[float, float, float]
    convs: list[_Conv]
    affines: list[tuple[np.ndarray, np.ndarray]]  # (gamma, beta) per channel
    linear: np.ndarray  # (256, 128): descriptor = pooled @ linear

    @classmethod
    def read(cls, path: Path) -> DlibWeights:
        try:
            return cls._parse(_Reader(path.read_bytes()))
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path.name} is not dlib's face descriptor ResNet ({exc})") from exc

    @classmethod
    def _parse(cls, reader: _Reader) -> DlibWeights:
        (reader.pos,) = reader.starts("input_rgb_image_sized")
        mean_rgb = (reader.scalar(), reader.scalar(), reader.scalar())
        convs = []
        for start in reader.starts("con_4"):
            reader.pos = start
            params = reader.tensor().reshape(-1)
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(7))
            if stride_y != stride_x or pad_y != pad_x:
                raise ValueError("dlib convolution with unequal strides or padding")
            size = params.size - filters
            weight = params[:size].reshape(filters, size // (filters * rows * cols), rows, cols)
            convs.append(_Conv(weight, params[size:], stride_y, pad_y))
        affines = []
        for start in reader.starts("affine_"):
            reader.pos = start
            params = reader.tensor().reshape(2, -1)
            affines.append((params[0], params[1]))
        (reader.pos,) = reader.starts("fc_2")
        outputs, inputs = reader.integer(), reader.integer()
        linear = reader.tensor().reshape(inputs, outputs)
        if len(convs) != len(affines) or len(convs) % 2 != 1 or linear.shape != (convs[-1].weight.shape[0], DIMENSION):
            raise ValueError("its layers do not make the descriptor network")
        return cls(mean_rgb, convs, affines, linear)


class _ConvAffine(nn.Module):
    """A convolution and the frozen batch norm after it, folded into one convolution."""

    def __init__(self, conv: _Conv, affine: tuple[np.ndarray, np.ndarray]) -> None:
        super().__init__()
        gamma, beta = (torch.from_numpy(v) for v in affine)
        weight = torch.from_numpy(conv.weight) * gamma[:, None, None, None]
        self.conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], conv.stride, conv.padding)
        self.conv.weight.data.copy_(weight)
        self.conv.bias.data.copy_(torch.from_numpy(conv.bias) * gamma + beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum over the larger shape, each operand zero-padded in channels and at its end."""
    channels, height, width = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grow(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, width - t.shape[3], 0, height - t.shape[2], 0, channels - t.shape[1]))

    return grow(a) + grow(b)


class _Block(nn.Module):
    def __init__(self, first: _ConvAffine, second: _ConvAffine) -> None:
        super().__init__()
        self.first, self.second = first, second
        self.down = first.conv.stride[0] != 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.second(F.relu(self.first(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_padded(out, shortcut))


class DlibFaceResNet(nn.Module):
    """(N, 150, 150, 3) uint8 RGB chips as a float tensor -> (N, 128) descriptors, as dlib computes them."""

    def __init__(self, weights: DlibWeights) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(weights.mean_rgb).view(1, 3, 1, 1))
        layers = [_ConvAffine(conv, affine) for conv, affine in zip(weights.convs, weights.affines, strict=True)]
        self.stem = layers[0]
        self.blocks = nn.Sequential(*(_Block(a, b) for a, b in zip(layers[1::2], layers[2::2], strict=True)))
        self.linear = nn.Linear(*weights.linear.shape, bias=False)
        self.linear.weight.data.copy_(torch.from_numpy(weights.linear.T))

    @classmethod
    def from_file(cls, path: Path) -> DlibFaceResNet:
        return cls(DlibWeights.read(path)).eval()

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.permute(0, 3, 1, 2) - self.mean) / 256.0
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return self.linear(x.mean(dim=(2, 3)))
