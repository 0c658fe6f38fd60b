"""``python -m models``: one command line, each command the main(argv) of its module."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from models.__main__ import COMMANDS, main

REPO = Path(__file__).resolve().parents[3]


def test_every_command_names_a_module_with_main_and_its_own_prog() -> None:
    assert list(COMMANDS) == [
        "train",
        "train-temporal",
        "train-decoder",
        "evaluate",
        "export",
        "publish",
        "saliency-targets",
        "pack-data",
        "unpack-data",
    ]
    for name, (target, _) in COMMANDS.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function or "main"))
        assert f"python -m models {name}" in (REPO / (module.replace(".", "/") + ".py")).read_text()


def test_unknown_or_missing_command_exits_with_the_list(capsys) -> None:
    with pytest.raises(SystemExit, match="unknown command 'nope'"):
        main(["nope"])
    with pytest.raises(SystemExit) as missing:
        main([])
    assert missing.value.code == 2
    assert "train-temporal" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "evaluate", "publish", "pack-data"])
def test_help_of_a_command_names_it(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "models", command, "--help"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith(f"usage: python -m models {command} ")


def test_arguments_reach_the_command(capsys) -> None:
    with pytest.raises(SystemExit) as failed:
        main(["publish", "--export-dir", "/nonexistent", "--name", "emotion"])
    assert "no weights manifest at /nonexistent/manifest.json" in str(failed.value.code)
