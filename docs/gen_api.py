"""MkDocs hook: the Python API page, one mkdocstrings entry per name in `analyzer.__all__`.

The names and the modules that define them are read from `analyzer/__init__.py` (`__all__` and its lazy table
`_LAZY`), so a name added to the public API appears here on the next build; its signature and docstring come from
the code through mkdocstrings.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INTRO = """# Python API

The public API is what `analyzer.__all__` names; each is importable from `analyzer` directly (`from analyzer import
footprint`), loaded lazily so that `import analyzer` does not import onnx. This page is generated from
`analyzer/__init__.py` and the docstrings (`docs/gen_api.py`, mkdocstrings): the signatures below are the code's.

```python
import analyzer

ps = analyzer.load_profiles()                         # every shipped profile, validated, frozen
p = analyzer.profile_onnx("models/resnet50.onnx")     # a ModelProfile: macs, flops, params, bytes, coverage
assert p.macs == 4_089_184_256

# a run's footprint (the `footprint` command): profiles are objects, found by name or alias; the site is resolved
site = analyzer.resolve_site(ps, analyzer.SiteRequest(datacenter="google-fleet", region="world-ember-2022"))
fp = analyzer.footprint(ps.find("v100"), 8, 72, site)  # 8 chips for 72 hours
assert round(fp.energy_kwh, 2) == 205.92 and round(fp.co2e_kg, 2) == 89.78

# the main job (the `analyze` command): a request record in, an Analysis record out
result = analyzer.analyze(analyzer.AnalysisRequest(folder="models", sensitivity=False), ps)
```

This block runs in the tests (`tests/whole/test_docs_site.py`).

Errors are `analyzer.AnalyzerError` (and its subclasses), each one line naming the parameter.
"""


def page() -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import analyzer

    parts = [INTRO]
    for name in analyzer.__all__:
        if name == "__version__":
            continue
        obj = getattr(analyzer, name)  # where it is defined, for mkdocstrings (the lazy table may re-export)
        target = f"{obj.__module__}.{obj.__qualname__}"
        parts.append(f"::: {target}\n    options:\n      show_root_heading: true\n      show_root_full_path: false\n"
                     "      heading_level: 2\n")
    return "\n".join(parts)


def on_files(files, config):
    from mkdocs.structure.files import File

    files.append(File.generated(config, "api.md", content=page()))
    return files
