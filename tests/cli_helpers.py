"""Run the CLI in-process and insist that nothing printed a traceback."""

from typer.testing import CliRunner

from analyzer.cli import app

runner = CliRunner()


def cli(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in r.output
    return r
