import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Hash cache and measurement store go to a temporary folder, never the user's cache."""
    import os

    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def shipped() -> dict[str, Path]:
    """The shipped sample models, built (once, cached by stamp) by models/build.py."""
    manifest = tomllib.loads((ROOT / "models" / "manifest.toml").read_text())["model"]
    paths = {m["name"]: ROOT / "models" / m["file"] for m in manifest}
    if not all(p.exists() for p in paths.values()):
        subprocess.run([sys.executable, str(ROOT / "models" / "build.py")], check=True, capture_output=True)
    return paths
