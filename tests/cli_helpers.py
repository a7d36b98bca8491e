"""Run the CLI in-process and insist that nothing printed a traceback."""

from typer.testing import CliRunner

from analyzer.cli import app

runner = CliRunner()


def cli(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in r.output
    return r


def one_line_error(r, code: int, *phrases: str) -> str:
    """The run exited `code` with exactly one `error:` line on stderr holding every phrase; that line."""
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.exit_code == code, r.output
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    for p in phrases:
        assert p in lines[0], lines[0]
    return lines[0]
