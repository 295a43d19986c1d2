"""Read the Dockerfile, .dockerignore and docker-compose.yml the way the tests need them (no Docker here)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml
from helpers import ROOT

from cds_service import cli

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    """One FROM ... stage: its base image, name and instructions as (KEYWORD, arguments) pairs."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def env(self) -> dict[str, str]:
        """Every ENV of the stage (KEY=VALUE pairs, shell-quoted as Docker reads them)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """Split a Dockerfile into stages; continuation lines joined, comments and parser directives dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line.strip())
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, flags=re.IGNORECASE)
            assert match, f"unreadable FROM line: {line}"
            stages.append(Stage(base=match[1], name=match[2]))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    """Parse an exec-form (JSON array) CMD, ENTRYPOINT or HEALTHCHECK CMD; fail on the shell form."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(item, str) for item in value), args
    return value


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """Return the HEALTHCHECK options (--interval=30s ...) and its exec-form command."""
    [args] = stage.all("HEALTHCHECK")
    options: dict[str, str] = {}
    while args.startswith("--"):
        option, _, args = args.partition(" ")
        key, _, value = option[2:].partition("=")
        options[key] = value
        args = args.strip()
    keyword, _, command = args.partition(" ")
    assert keyword == "CMD", f"HEALTHCHECK must be CMD [...], got {args!r}"
    return options, exec_form(command)


def compose() -> dict[str, Any]:
    """The parsed docker-compose.yml."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def serve_environment_names() -> set[str]:
    """The CDS_* variables `b12-cds serve` reads for its own options (CDS_HOST, CDS_PORT, ...)."""
    names = set()
    for param in cli.serve.params:
        names.update(re.findall(r"\((CDS_[A-Z_]+)\)", getattr(param, "help", None) or ""))
    return names


def cli_context(argv: list[str]) -> click.Context:
    """Parse a `b12-cds ...` command line with the real click commands; return the subcommand's context."""
    assert argv[0] == "b12-cds", argv
    name, *rest = argv[1:]
    assert not name.startswith("-"), "the b12-cds group itself takes no options but --help"
    group_context = click.Context(cli.main, info_name="b12-cds")
    command = cli.main.get_command(group_context, name)
    assert command is not None, f"b12-cds has no command {name!r}"
    return command.make_context(name, rest, parent=group_context)


def dockerignore_patterns(path: Path = DOCKERIGNORE) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]
