import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def shipped() -> dict[str, Path]:
    """The shipped sample models, built (once, cached by stamp) by models/build.py."""
    manifest = tomllib.loads((ROOT / "models" / "manifest.toml").read_text())["model"]
    paths = {m["name"]: ROOT / "models" / m["file"] for m in manifest}
    if not all(p.exists() for p in paths.values()):
        subprocess.run([sys.executable, str(ROOT / "models" / "build.py")], check=True, capture_output=True)
    return paths
