"""Only a build step pyproject.toml cannot declare: the wheel carries the repository's profiles/ (hardware,
datacenter, region and search data) and the shipped sample candidates from models/ inside the package, as
analyzer/_profiles and analyzer/_samples (found at run time by analyzer.paths). Everything else is in
pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# what travels: profile data with its sources and licences, the weight-less sample models and the sample decoder
# configs (models/decoders/); not the profiler traces and logs kept in profiles/measurements (evidence for the
# calibration, not needed to run)
DATA = {"_profiles": (ROOT / "profiles", ("*.toml", "*.csv", "*.json", "*.md", "LICENSE*", "SOURCE*"), ("tools",)),
        "_samples": (ROOT / "models", ("*.onnx", "manifest.toml", "*.json", "README.md"), ("onnx",))}


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for name, (src, patterns, skip_dirs) in DATA.items():
            dst = Path(self.build_lib) / "analyzer" / name
            for pattern in patterns:
                for f in src.rglob(pattern):
                    rel = f.relative_to(src)
                    if rel.parts[0] in skip_dirs or not f.is_file():
                        continue
                    (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, dst / rel)


setup(cmdclass={"build_py": BuildWithData})
