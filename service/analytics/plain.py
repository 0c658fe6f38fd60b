"""Analytics records as plain JSON values: the one place that decides how records look on the wire."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

DECIMALS = 4  # 0.1 ms of media time, 0.01 % of a share: finer digits are noise to every reader


def plain(value: Any) -> Any:
    """Dataclasses, mappings and sequences -> dicts and lists; floats rounded to ``DECIMALS``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return round(float(value), DECIMALS)
    return value
