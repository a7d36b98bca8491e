"""MkDocs hook: one page per command, generated from the command's own `--help`, never copied by hand.

`mkdocs build` imports the CLI (`analyzer.cli.register()`), walks the click command tree and writes, in memory,
`commands/index.md` (every command with its one-line summary) and `commands/<name>.md` (a subcommand: `<group>-<name>`)
holding the help text exactly as `nas-analyzer NAME --help` prints it at 100 columns. A new command or option shows
up on the next build; nothing here can drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 100


def _click(cmd):
    """The click module `cmd` was built with: typer vendors click (`typer._click`) from 0.2x on, so a bare
    `import click` fails where click is not installed beside it (CI's fresh venv)."""
    import importlib

    for klass in type(cmd).__mro__:
        top = klass.__module__.split(".")
        if top[0] == "click" or top[:2] == ["typer", "_click"]:
            return importlib.import_module(".".join(top[:2] if top[0] == "typer" else top[:1]))
    raise RuntimeError(f"{type(cmd).__name__} is not a click command")


def _commands():
    """[(path tuple, click command)] for every command and subcommand, in help order."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import typer.main

    from analyzer.cli import register

    root = typer.main.get_command(register(None))
    out = []

    def walk(cmd, path):
        sub = getattr(cmd, "commands", None)
        if path:
            out.append((path, cmd))
        if sub:
            ctx = _click(cmd).Context(cmd, info_name=path[-1] if path else "nas-analyzer")
            for name in cmd.list_commands(ctx):
                walk(sub[name], path + (name,))

    walk(root, ())
    return root, out


def help_text(path: tuple[str, ...]) -> str:
    """What `nas-analyzer PATH --help` prints at WIDTH columns (the prog name as installed)."""
    root, _ = _commands()
    click = _click(root)

    ctx = root.make_context("nas-analyzer", list(path) + ["--help"], resilient_parsing=True,
                            terminal_width=WIDTH, max_content_width=WIDTH)
    cmd, parent = root, ctx
    for name in path:
        cmd = cmd.commands[name]
        parent = cmd.make_context(name, [], parent=parent, resilient_parsing=True,
                                  terminal_width=WIDTH, max_content_width=WIDTH)
    with parent:
        return click.Command.get_help(cmd, parent) if not hasattr(cmd, "commands") else cmd.get_help(parent)


def _summary(help_: str, limit: int = 110) -> str:
    """The help's first paragraph, cut at a word before `limit` characters."""
    text = " ".join(help_.strip().split("\n\n")[0].split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def page_name(path: tuple[str, ...]) -> str:
    return "-".join(path)


def pages() -> dict[str, str]:
    """{docs-relative path: markdown} for the command reference."""
    _, cmds = _commands()
    index = ["# Commands", "",
             "Generated from each command's `--help` when the site is built (`docs/gen_commands.py`), so it says what "
             "the installed version does. Every command takes `--help`.", "",
             "| command | what it does |", "|---|---|"]
    out = {}
    for path, cmd in cmds:
        name = page_name(path)
        short = _summary(cmd.help or "").replace("|", "\\|")
        index.append(f"| [`{' '.join(path)}`]({name}.md) | {short} |")
        body = [f"# nas-analyzer {' '.join(path)}", "", (cmd.help or "").strip().split("\n\n")[0].replace("\n", " "), "",
                "```text", help_text(path).rstrip(), "```", ""]
        out[f"commands/{name}.md"] = "\n".join(body)
    out["commands/index.md"] = "\n".join(index) + "\n"
    return out


def on_files(files, config):
    """MkDocs hook: add the generated pages to the build."""
    from mkdocs.structure.files import File

    for src_uri, content in pages().items():
        files.append(File.generated(config, src_uri, content=content))
    return files


def on_config(config):
    """MkDocs hook: the nav's `Commands: commands/` entry becomes the index and one entry per command."""
    entries = [{"All commands": "commands/index.md"}]
    entries += [{" ".join(path): f"commands/{page_name(path)}.md"} for path, _ in _commands()[1]]
    for item in config["nav"] or []:
        if isinstance(item, dict) and item.get("Commands") == "commands/":
            item["Commands"] = entries
    return config
