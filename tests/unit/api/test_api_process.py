"""The API process never loads torch or the worker: its image ships without them."""

import subprocess
import sys

PROBE = """
import sys
import service.api.app, service.commands, service.__main__
from service.api.app import create_app
from service.config import Settings
create_app(Settings(), "redis://127.0.0.1:6379/15")
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "service.worker", "facenet_pytorch")))
print(",".join(heavy))
"""


def test_the_api_imports_neither_torch_nor_the_worker():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"the API process imported: {result.stdout.strip()}"
