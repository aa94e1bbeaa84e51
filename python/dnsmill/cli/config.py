"""``dnsmill config``: the settings services would use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dnsmill.cli.app import CONFIG_HELP, app, settings_or_exit
from dnsmill.config import shown

config_app = typer.Typer(help="Show the settings services would use.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Print the effective settings (defaults, file, DNSMILL_ variables) as JSON, passwords hidden."""
    print(json.dumps(shown(settings_or_exit("config show", config)), indent=2))
