"""Shared pieces of the CLI: error mapping, container access and progress bars."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from datetime import tzinfo

    from opso.app.files import FileFailure

F = TypeVar("F", bound=Callable[..., Any])


class OpsoGroup(click.Group):
    """A click group that turns opso's documented errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning opso's errors into one line and an exit code.

        A ``ParameterError`` is a usage error (exit 2); other opso errors and
        ``FileNotFoundError`` exit 1.
        """
        from opso.app.files import failure_reason
        from opso.domain.errors import OpsoError, ParameterError

        try:
            return super().invoke(ctx)
        except ParameterError as e:
            raise click.UsageError(str(e), ctx) from e
        except (OpsoError, FileNotFoundError) as e:
            raise click.ClickException(printable(failure_reason(e))) from e

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd``, giving it a ``--config FILE`` option (see :func:`config_option`)."""
        super().add_command(add_config_option(cmd), name)


def final_clip_option(
    choices: tuple[str, ...] = ("none", "remainder", "full", "extend"), default: str = "none"
) -> Callable[[F], F]:
    """Add ``--final-clip``; the command receives None for ``none``, else the mode's name.

    Every clipping command defaults to ``none``, as ``Audio.split`` does: no second of a
    recording is in two clips and no clip holds invented samples (decision 0118).
    """

    def to_mode(ctx: click.Context, param: click.Parameter, value: str) -> str | None:
        return None if value == "none" else value

    return click.option(
        "--final-clip",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        callback=to_mode,
        help="Audio after the last full clip: extend (loop it to a full clip), remainder "
        "(a shorter clip), full (a full clip ending at the end, overlapping the one before) or "
        "none (drop it).",
    )


def time_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> tzinfo | None:
    """Turn a time-zone option's NAME into a time zone, or reject the name (a click callback)."""
    if value is None:
        return None
    from opso.domain.errors import ParameterError
    from opso.domain.recording_info import parse_timezone

    try:
        return parse_timezone(value)
    except ParameterError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from e


def timezone_option() -> Callable[[F], F]:
    """Add ``--timezone NAME``: the zone of recording start times written without one."""
    return click.option(
        "--timezone",
        metavar="NAME",
        default=None,
        callback=time_zone,
        help="IANA time zone (Europe/London) of start times written without one, such as file "
        "names 20210502_040000.WAV; default UTC.",
    )


def pass_container(f: F) -> F:
    """Give a command the container, built on first use (tests pass ``obj=container``)."""

    @click.pass_context
    @functools.wraps(f)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        if ctx.find_root().obj is None:
            from opso.container import Container

            ctx.find_root().obj = Container()
        return ctx.invoke(f, ctx.find_root().obj, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class TqdmProgress:
    """Render use-case progress reports as a tqdm bar on stderr."""

    def __init__(self, desc: str, *, unit: str = "file", echo: bool = False) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, desc=desc, unit=unit, leave=False, disable=None)
        self._echo = echo

    def __call__(self, done: int, total: int, item: str) -> None:
        """Advance the bar to ``done`` of ``total``; with ``echo``, print ``item`` above it."""
        self._bar.total = total
        self._bar.update(done - self._bar.n)
        if self._echo:
            self._bar.write(item, file=sys.stderr)

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()


@contextlib.contextmanager
def progress_bar(
    desc: str, *, unit: str = "file", echo: bool = False, param_hint: str | None = None
) -> Iterator[TqdmProgress]:
    """Show a progress bar while a use-case runs, and report its setting errors as usage errors.

    ``unit`` names what is counted (file, epoch, shard, ...); ``echo`` prints each step's
    report (e.g. an epoch's losses) above the bar as it comes.

    A ``ParameterError`` (or plain ``ValueError``) from the use-case, an option value it
    rejected, exits with status 2 as ``BadParameter``; opso's other errors pass on to the group,
    which reports them with status 1. The bar is removed either way.
    """
    from opso.domain.errors import OpsoError, ParameterError

    bar = TqdmProgress(desc, unit=unit, echo=echo)
    try:
        yield bar
    except ParameterError as e:
        raise click.BadParameter(str(e), param_hint=param_hint) from e
    except OpsoError:
        raise
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=param_hint) from e
    finally:
        bar.close()


def printable(text: object) -> str:
    r"""Return ``str(text)`` with the bytes of undecodable file names as ``\xNN`` escapes.

    A file name that is not UTF-8 reaches Python as lone surrogates, which no output stream
    can encode; escaped (``caf\xe9.wav``), the line still prints and still names its file.
    """
    from opso.domain.runs import printable as escaped

    return escaped(str(text))


def report_failures(failures: Iterable[FileFailure]) -> None:
    """Print one ``error: FILE: REASON`` line on stderr per recording a batch could not use."""
    for f in failures:
        click.echo(printable(f"error: {f.source}: {f.reason}"), err=True)


# --- configuration files as option defaults (``--config FILE``) -------------------------------


def _option_names(command: click.Command) -> dict[str, click.Option]:
    """Map each option's name and long flags (``_`` for ``-``) to the option."""
    names: dict[str, click.Option] = {}
    for p in command.params:
        if isinstance(p, click.Option) and p.name is not None and p.name != "config":
            names[p.name] = p
            for flag in p.opts:
                if flag.startswith("--"):
                    names[flag[2:].replace("-", "_")] = p
    return names


def _section_defaults(
    cmd: click.Command,
    path: str,
    shared: dict[str, Any],
    own: Any,
    problems: list[tuple[str, str]],
) -> dict[str, Any]:
    """Option defaults of one command: shared keys it has an option for, then its section."""
    options = _option_names(cmd)
    mapping: dict[str, Any] = {
        str(options[k].name): v for k, v in shared.items() if k in options and v is not None
    }
    if isinstance(cmd, click.Group):
        if own is not None and not isinstance(own, dict):
            problems.append((path, f"a command group's section maps its commands, got {own!r}"))
            own = None
        for key in own or {}:
            if key not in cmd.commands:
                choices = ", ".join(sorted(cmd.commands))
                problems.append((f"{path}.{key}", f"'opso {path}' has no such command ({choices})"))
        for sub_name, sub in cmd.commands.items():
            sub_own = (own or {}).get(sub_name)
            sub_map = _section_defaults(sub, f"{path}.{sub_name}", shared, sub_own, problems)
            if sub_map:
                mapping[sub_name] = sub_map
        return mapping
    if own is None:
        return mapping
    if not isinstance(own, dict):
        problems.append((path, f"a command section is a mapping of options, got {own!r}"))
        return mapping
    ctx = click.Context(cmd)
    for key, value in own.items():
        option = options.get(str(key).replace("-", "_"))
        if option is None:
            choices = ", ".join(sorted({k.replace("_", "-") for k in options})) or "none"
            problems.append((f"{path}.{key}", f"'opso {path}' has no such option ({choices})"))
            continue
        target = str(option.name)
        if value is None:
            mapping.pop(target, None)
            continue
        try:
            option.type_cast_value(ctx, value)
        except click.BadParameter as e:
            problems.append((f"{path}.{key}", e.format_message()))
            continue
        mapping[target] = value
    return mapping


def command_defaults(root: click.Group) -> dict[str, Any]:
    """Every configurable option of every command with its built-in default, as a config map.

    Keys are option names as written on the command line (``clip-duration``); a group's section
    maps its commands. Required options, ``--config`` and ``--help`` are left out, and so are
    commands named like a spec section (``raven``, whose section holds the spec's keys). Read
    back through :func:`config_problems`, the map gives each command exactly its own defaults.
    """
    from opso.app.settings import SECTIONS

    out: dict[str, Any] = {}
    for name, cmd in root.commands.items():
        if name == "config" or name in SECTIONS:  # `raven` names a spec section too
            continue
        if isinstance(cmd, click.Group):
            sub = command_defaults(cmd)
            if sub:
                out[name] = sub
            continue
        ctx = click.Context(cmd, info_name=name)
        section: dict[str, Any] = {}
        for p in cmd.params:
            if not isinstance(p, click.Option) or p.required or p.hidden or p.is_eager:
                continue
            if p.name in (None, "config", "help") or not p.expose_value:
                continue
            flag = max((o for o in p.opts if o.startswith("--")), key=len, default=None)
            if flag is None:
                continue
            section[flag[2:]] = _plain(p.get_default(ctx, call=True))
        if section:
            out[name] = section
    return out


def _plain(value: Any) -> Any:
    """Return a YAML-friendly copy of an option default (tuples as lists, paths as text)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return None  # click's "unset" marker: no default


def config_problems(
    root: click.Group, data: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Turn a parsed configuration into click default maps, collecting every problem.

    The file may hold the spec's sections (``runtime``, ``raven``, ``audio``,
    ``split_and_save``), whose keys become the defaults of every command (at any depth) that
    has an option of that name, and a section named after a top-level command (``ribbit:``,
    ``split:``) whose keys are that command's option names (``-`` or ``_``); a command's own
    section wins. A ``null`` value leaves the command's built-in default.

    Returns
    -------
    tuple
        ``(default map {command: {option: value, subcommand: {...}}}, [(key path, message)])``.
    """
    from opso.app.settings import SECTIONS, parse_config
    from opso.domain.errors import ConfigError

    problems: list[tuple[str, str]] = []
    shared: dict[str, Any] = {}
    try:
        parsed = parse_config({k: v for k, v in data.items() if k in SECTIONS})
        for section in parsed.model_dump(exclude_unset=True).values():
            shared.update(section)
    except ConfigError as e:
        problems.extend(e.errors)
    commands = {name: cmd for name, cmd in root.commands.items() if name != "config"}
    for key in data:
        if key not in SECTIONS and key not in commands:
            known = ", ".join([*SECTIONS, *sorted(commands)])
            problems.append((str(key), f"unknown section; use one of {known}"))
    defaults: dict[str, Any] = {}
    for name, cmd in commands.items():
        own = None if name in SECTIONS else data.get(name)
        mapping = _section_defaults(cmd, name, shared, own, problems)
        if mapping:
            defaults[name] = mapping
    return defaults, problems


def _load_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """Eager ``--config`` callback: install the file's values as this context's defaults."""
    if value is None or ctx.resilient_parsing:
        return
    from opso.app.settings import read_config_file
    from opso.domain.errors import ConfigError

    root = ctx.find_root().command
    if not isinstance(root, click.Group):
        return
    try:
        data = read_config_file(value)
    except ConfigError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from e
    defaults, problems = config_problems(root, data)
    if problems:
        lines = "\n".join(f"  {path}: {msg}" for path, msg in problems)
        raise click.BadParameter(f"{value}: invalid configuration\n{lines}", ctx=ctx, param=param)
    names: list[str] = []
    node: click.Context | None = ctx
    while node is not None and node.parent is not None:
        names.insert(0, node.info_name or "")
        node = node.parent
    mine: Any = defaults
    for part in names:  # walk from the root to this command
        mine = mine.get(part, {}) if isinstance(mine, dict) else {}
    ctx.default_map = {**(ctx.default_map or {}), **mine}


def config_option(f: F) -> F:
    """Add ``--config FILE`` to a command or group: the file's values become option defaults.

    On the ``opso`` group it configures every command (``opso --config run.yml ribbit ...``);
    on a command it configures that command (``opso ribbit --config run.yml ...``). Options
    given on the command line always win. See :func:`config_problems` for the file's layout.
    """
    option = click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=_load_config,
        help="YAML file whose values are the defaults of this command's options.",
    )
    return option(f)


def add_config_option(command: click.Command) -> click.Command:
    """Give a command (for a group: each of its commands) a ``--config FILE`` option.

    The ``opso config`` group is left alone: its commands read configuration files themselves.
    """
    if isinstance(command, click.Group):
        if command.name != "config":
            for sub in command.commands.values():
                add_config_option(sub)
    elif not any(p.name == "config" for p in command.params):
        config_option(command)
    return command
