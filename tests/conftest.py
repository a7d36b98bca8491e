import os
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


LOUD: list[str] = []  # checks that could not run here, said at the end of the run, not only as a skip


def require_torch():
    """torch, or a skip (said loudly at the end); where NAS_ANALYZER_REQUIRE_TORCH is set (CI's torch phase), a failure."""
    try:
        import torch
    except ImportError:
        if os.environ.get("NAS_ANALYZER_REQUIRE_TORCH"):
            pytest.fail("torch is required here (NAS_ANALYZER_REQUIRE_TORCH) but not installed")
        LOUD.append("the PyTorch front door and exporter cross-checks did NOT run: torch is not installed "
                    "(pip install -e '.[torch]'; a CPU build: see the README)")
        pytest.skip("needs the torch extra: pip install -e '.[torch]'", allow_module_level=True)
    return torch


def require_extra(module: str, require_env: str, loud: str):
    """An optional extra's module, or a skip said loudly at the end; where `require_env` is set, a failure."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get(require_env):
            pytest.fail(f"{module} is required here ({require_env}) but not installed")
        LOUD.append(loud)
        pytest.skip(f"needs {module}", allow_module_level=True)


def pytest_terminal_summary(terminalreporter):
    for msg in dict.fromkeys(LOUD):
        terminalreporter.write_line(f"WARNING: {msg}", yellow=True, bold=True)


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
    missing = [str(p) for p in paths.values() if not p.exists()]
    assert not missing, f"shipped samples missing (they are committed; rebuild with python models/build.py): {missing}"
    return paths
