"""``pcompile deploy``, ``destroy``, ``bootstrap``, ``app list/status``, ``logs`` and ``init``.

The commands parse flags, load the stack file, pick the deploy tools for the
stack's cloud (see :func:`default_tools`; tests install fakes with
:func:`set_tools_factory`) and hand over to :mod:`pcompile.providers.deploy`.
Exit codes: 0 success, 1 user error, 2 deployment failure. Progress goes to stderr
(rich), so ``--json`` keeps stdout machine-readable.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pcompile.cli import pcompile_source as sources
from pcompile.compiler.errors import UserError
from pcompile.compiler.stacks import load_stack
from pcompile.providers import deploy as dep
from pcompile.providers import registry
from pcompile.providers.cloud_stores import credential_error
from pcompile.providers.settings import StackSettings

ToolsFactory = Callable[[StackSettings, Path], dep.DeployTools]
_factory: ToolsFactory | None = None

STACK_HELP = "Stack name (stacks/NAME.yaml) or path to a stack file."
DEFAULT_STACK = "dev"


def set_tools_factory(factory: ToolsFactory | None) -> ToolsFactory | None:
    """Install the function that builds deploy tools (tests pass fakes); returns the previous one."""
    global _factory
    previous, _factory = _factory, factory
    return previous


def tools_for(settings: StackSettings, root: Path) -> dep.DeployTools:
    """The deploy tools for ``settings``: the installed factory's, or the real ones."""
    if _factory is not None:
        return _factory(settings, root)
    from pcompile.providers.cloud_stores import default_tools

    return default_tools(settings, root)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class RichProgress:
    """Deploy progress on stderr: one line per step, engine output dimmed."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def step(self, message: str) -> None:
        """Print a step."""
        self.console.print(Text.assemble(("==> ", "bold cyan"), message))

    def output(self, line: str) -> None:
        """Print a line of engine output as it arrives."""
        self.console.print(Text(line.rstrip("\n"), style="dim"))


@contextmanager
def exit_codes() -> Iterator[None]:
    """Map failures to exit codes: UserError 1, DeploymentFailed 2."""
    try:
        yield
    except UserError as err:
        _stderr().print(Text.assemble(("error: ", "bold red"), str(err)))
        raise typer.Exit(1) from None
    except dep.DeploymentFailed as err:
        cause = credential_error(err.__cause__) if err.__cause__ else None
        _stderr().print(Text.assemble(("deployment failed: ", "bold red"), str(cause or err)))
        raise typer.Exit(1 if cause else 2) from None
    except Exception as exc:
        user = credential_error(exc)
        if user is None:
            raise
        _stderr().print(Text.assemble(("error: ", "bold red"), str(user)))
        raise typer.Exit(1) from None


@contextmanager
def engine_named(command: str) -> Iterator[None]:
    """The install sentence names the command that needed the engine."""
    try:
        yield
    except dep.EngineMissing:
        raise dep.EngineMissing(command) from None


def is_ci() -> bool:
    """True on CI systems (``CI=true``): never prompt."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _interactive(yes: bool) -> bool:
    return not yes and not is_ci() and sys.stdin.isatty()


def _root() -> Path:
    return Path.cwd()


def deploy_cmd(
    file: Path = typer.Argument(..., help="The app file (a Modal-style app)."),
    stack: str = typer.Option(DEFAULT_STACK, "--stack", "-s", help=STACK_HELP, envvar="PCOMPILE_STACK"),
    app_name: str | None = typer.Option(
        None, "--app", help="Which App of the file, when it defines several."
    ),
    preview: bool = typer.Option(
        False, "--preview", help="Show what would change; build and upload nothing."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Build images, upload code, run Pulumi and record where every function lives."""
    with exit_codes():
        root = _root()
        settings = load_stack(stack, root)
        if not file.is_file():
            raise UserError(f"no such file: {file}", fix="pass the path of your app file, e.g. app.py")
        tools = tools_for(settings, root)
        progress = RichProgress(_stderr())
        request = dep.DeployRequest(file, root, settings, app_name, preview)
        if not preview and registry.get(settings.cloud).remote and _interactive(yes):
            first = dep.deploy(dep.DeployRequest(file, root, settings, app_name, True), tools, progress)
            if first.changed() and not typer.confirm(f"Deploy these changes to stack {settings.name}?"):
                raise typer.Exit(1)
        report = dep.deploy(request, tools, progress)
        _print_report(report, as_json)


def _print_report(report: dep.DeployReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
        return
    console = Console(highlight=False, soft_wrap=True)
    verb = "previewed" if report.preview else "deployed"
    counts = ", ".join(f"{op} {n}" for op, n in sorted(report.changes.items())) or "no engine run"
    console.print(f"{verb} app {report.app!r} on stack {report.stack!r} ({report.cloud}): {counts}")
    for ref in report.images_built:
        console.print(f"  image pushed: {ref}")
    for name, url in sorted(report.endpoints.items()):
        console.print(f"  {name}: {url}")
    for path in report.manifest:
        console.print(f"  manifest: {path}")


def destroy_cmd(
    stack: str = typer.Option(DEFAULT_STACK, "--stack", "-s", help=STACK_HELP, envvar="PCOMPILE_STACK"),
    app_name: str | None = typer.Option(None, "--app", help="The deployed app (default: the only one)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete every resource of a deployed app."""
    with exit_codes():
        root = _root()
        settings = load_stack(stack, root)
        tools = tools_for(settings, root)
        name = _one_app(tools, settings, app_name)
        if _interactive(yes) and not typer.confirm(f"Destroy app {name!r} on stack {settings.name!r}?"):
            raise typer.Exit(1)
        with engine_named("destroy"):
            result = dep.destroy(name, settings, root, tools.engine, tools.manifests, RichProgress(_stderr()))
        typer.echo(
            f"destroyed app {name!r} on stack {settings.name!r} ({result.changes.get('delete', 0)} deleted)"
        )


def _one_app(tools: dep.DeployTools, settings: StackSettings, name: str | None) -> str:
    if name:
        return name
    apps = sorted({a for store in tools.manifests for a in store.list()})
    if len(apps) == 1:
        return apps[0]
    raise UserError(
        f"stack {settings.name!r} has {len(apps)} deployed apps{': ' + ', '.join(apps) if apps else ''}",
        fix="pass --app NAME",
    )


def bootstrap_cmd(
    stack: str = typer.Option(DEFAULT_STACK, "--stack", "-s", help=STACK_HELP, envvar="PCOMPILE_STACK"),
    preview: bool = typer.Option(False, "--preview", help="Show what would be created."),
    as_json: bool = typer.Option(False, "--json", help="Print the outputs as JSON."),
) -> None:
    """Create the per-account shared pieces: state bucket, staging bucket, registry."""
    with exit_codes():
        from pcompile.providers import cloud_stores

        root = _root()
        settings = load_stack(stack, root)
        tools = tools_for(settings, root)
        with engine_named("bootstrap"):
            result = cloud_stores.bootstrap(
                settings, root, tools.engine, RichProgress(_stderr()), preview=preview
            )
        if as_json:
            typer.echo(
                json.dumps({"changes": result.changes, "outputs": result.outputs}, indent=2, sort_keys=True)
            )
        else:
            for key, value in sorted(result.outputs.items()):
                typer.echo(f"{key}: {value}")


app_group = typer.Typer(help="Deployed apps on a stack.", no_args_is_help=True)


@app_group.command("list")
def app_list(
    stack: str = typer.Option(DEFAULT_STACK, "--stack", "-s", help=STACK_HELP, envvar="PCOMPILE_STACK"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The apps deployed on a stack."""
    with exit_codes():
        root = _root()
        settings = load_stack(stack, root)
        apps = sorted({a for store in tools_for(settings, root).manifests for a in store.list()})
        if as_json:
            typer.echo(json.dumps({"stack": settings.name, "apps": apps}, indent=2, sort_keys=True))
            return
        for name in apps:
            typer.echo(name)


@app_group.command("status")
def app_status(
    name: str = typer.Argument(..., help="The app name."),
    stack: str = typer.Option(DEFAULT_STACK, "--stack", "-s", help=STACK_HELP, envvar="PCOMPILE_STACK"),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Where every function of a deployed app runs, and its endpoints."""
    with exit_codes():
        root = _root()
        settings = load_stack(stack, root)
        manifest = _read_manifest(tools_for(settings, root), settings, name)
        if as_json:
            typer.echo(manifest.dumps().rstrip("\n"))
            return
        table = Table(title=f"{manifest.app} on {manifest.stack} ({manifest.cloud})")
        for column in ("function", "target", "endpoint"):
            table.add_column(column)
        for fn, address in sorted(manifest.functions.items()):
            table.add_row(fn, address.target, address.web_url or "")
        Console(highlight=False).print(table)


def _read_manifest(tools: dep.DeployTools, settings: StackSettings, name: str) -> Any:
    for store in tools.manifests:
        manifest = store.read(name)
        if manifest is not None:
            return manifest
    raise UserError(
        f"app {name!r} is not deployed on stack {settings.name!r}",
        fix=f"deploy it with `pcompile deploy FILE --stack {settings.name}`, or see `pcompile app list`",
    )


def logs_cmd(
    function: str = typer.Argument(..., help="Function name (Cls.method for methods)."),
    app_name: str | None = typer.Option(None, "--app", help="The deployed app (default: the only one)."),
    stack: str = typer.Option(DEFAULT_STACK, "--stack", "-s", help=STACK_HELP, envvar="PCOMPILE_STACK"),
    since: str = typer.Option("1h", "--since", help="How far back: 30m, 2h, 1d."),
    limit: int = typer.Option(200, "--limit", help="At most this many lines."),
) -> None:
    """Recent log lines of a deployed function (CloudWatch, Cloud Logging or local files)."""
    with exit_codes():
        from pcompile.providers import cloud_stores

        root = _root()
        settings = load_stack(stack, root)
        tools = tools_for(settings, root)
        manifest = _read_manifest(tools, settings, _one_app(tools, settings, app_name))
        for line in cloud_stores.fetch_logs(settings, root, manifest, function, since, limit):
            typer.echo(line)


def init_cmd(
    directory: Path = typer.Argument(Path("."), help="Where to write the project."),
    cloud: str = typer.Option("", "--cloud", help="aws, gcp or local."),
    ci: str = typer.Option("", "--ci", help="Write a CI workflow: github."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Accept defaults without prompting."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
    pcompile_source: str = typer.Option(
        "",
        "--pcompile-source",
        help="Where CI installs pcompile from: wheel, git or index (default: as this one was installed, else wheel).",
    ),
    pcompile_wheel: str = typer.Option(
        "",
        "--pcompile-wheel",
        help="A pcompile wheel to commit under wheels/, or an https URL ending #sha256=HEX.",
    ),
    pcompile_git: str = typer.Option(
        "", "--pcompile-git", help="git+https://HOST/OWNER/pcompile@COMMIT_SHA."
    ),
    pcompile_index_url: str = typer.Option(
        "", "--pcompile-index-url", help="Your package index serving pcompile (pip --index-url)."
    ),
) -> None:
    """Scaffold an app, stacks/dev.yaml and (with --ci github) a GitHub Actions workflow."""
    with exit_codes():
        answers = ask(cloud, ci, yes or is_ci() or not sys.stdin.isatty())
        source = sources.choose(pcompile_source, pcompile_wheel, pcompile_git, pcompile_index_url)
        for path in write_scaffold(directory, answers, source, force=force):
            typer.echo(f"wrote {shown_path(directory / path)}")
        typer.echo(next_steps(answers, directory, source))


# ------------------------------------------- secret / volume on cloud stacks
# ``pcompile secret`` and ``pcompile volume`` live in cli/stores.py (local store);
# with ``--stack`` naming an aws or gcp stack they call these instead.


def cloud_stack(stack: str | None) -> StackSettings | None:
    """The settings of ``--stack`` when it names a cloud stack; None for local (or none)."""
    if not stack:
        return None
    settings = load_stack(stack, _root())
    from pcompile.providers.cloud_stores import use_endpoint

    use_endpoint(settings)
    return settings if registry.get(settings.cloud).remote else None


def stack_secret_create(settings: StackSettings, name: str, values: dict[str, str], force: bool) -> None:
    """``pcompile secret create NAME K=V --stack S`` on the stack's secret store."""
    from pcompile.providers.cloud_stores import cloud_secrets

    with exit_codes():
        cloud_secrets(settings).create(name, values, overwrite=force)
        typer.echo(f"created secret {name!r} with keys {sorted(values)} on stack {settings.name!r}")


def stack_secret_list(settings: StackSettings) -> None:
    """``pcompile secret list --stack S``: names and key names, never values."""
    from pcompile.providers.cloud_stores import cloud_secrets

    with exit_codes():
        for name, keys in cloud_secrets(settings).keys_by_name().items():
            typer.echo(f"{name}\t{', '.join(keys)}")


def _bucket_volume(settings: StackSettings, name: str, app: str | None) -> Any:
    from pcompile.providers.cloud_stores import stack_volume

    return stack_volume(settings, name, app)


def stack_volume_ls(settings: StackSettings, name: str, path: str, app: str | None = None) -> None:
    """``pcompile volume ls NAME [PATH] --stack S``."""
    with exit_codes():
        for entry in _bucket_volume(settings, name, app).ls(path):
            typer.echo(f"{entry.path}\t{entry.size}")


def stack_volume_put(
    settings: StackSettings, name: str, local: Path, remote: str, app: str | None = None
) -> None:
    """``pcompile volume put NAME LOCAL [REMOTE] --stack S``."""
    with exit_codes():
        if not local.exists():
            raise UserError(f"no such file or directory: {local}")
        written = _bucket_volume(settings, name, app).put(local, remote)
        typer.echo(f"uploaded {len(written)} file(s) to {name}:{remote} on stack {settings.name!r}")


def stack_volume_get(
    settings: StackSettings, name: str, remote: str, local: str, app: str | None = None
) -> None:
    """``pcompile volume get NAME REMOTE [LOCAL|-] --stack S``."""
    with exit_codes():
        data = _bucket_volume(settings, name, app).get(remote)
        if local == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            Path(local).write_bytes(data)


# ----------------------------------------------------------------------- init

TEMPLATES = Path(__file__).parent / "templates"
CLOUDS = registry.clouds()
DEFAULT_CLOUD = "aws"
CI_SYSTEMS = ("github",)
PULUMI_VERSION = "3.150.0"
PYTEST_VERSION = "9.0.3"


def ask(cloud: str, ci: str, defaults_only: bool) -> dict[str, str]:
    """The scaffold's answers: flags first, then prompts (or defaults with ``--yes``)."""
    if not cloud:
        choices = ", ".join(CLOUDS)
        cloud = DEFAULT_CLOUD if defaults_only else typer.prompt(f"Cloud ({choices})", default=DEFAULT_CLOUD)
    if cloud not in CLOUDS:
        raise UserError(
            f"--cloud {cloud!r} is not one of {', '.join(CLOUDS)}",
            fix=f"pass --cloud {', '.join(CLOUDS[:-1])} or {CLOUDS[-1]}",
        )
    provider = registry.get(cloud)
    if ci and ci not in CI_SYSTEMS:
        raise UserError(f"--ci {ci!r} is not supported", fix="pass --ci github, or leave --ci out")
    if ci and not provider.remote:
        raise UserError(
            "a CI workflow deploys to a cloud; a local stack has nothing to deploy in CI",
            fix="pass " + " or ".join(f"--cloud {c}" for c in registry.remote_clouds()) + " with --ci github",
        )
    defaults = provider.init_defaults()
    answers = {"cloud": cloud, "ci": ci, "stack": "dev", "app_name": "hello-pcompile", "app_file": "app.py"}
    answers.update(defaults)
    if not ci and provider.remote:
        answers["state_backend"] = "file://.pcompile/state"
    if not defaults_only:
        for key in ("app_name", *defaults):
            answers[key] = typer.prompt(key.replace("_", " ").capitalize(), default=answers[key])
    return answers


def render_scaffold(answers: dict[str, str], source: sources.PcompileSource) -> dict[str, str]:
    """The files ``pcompile init`` writes: relative path -> text."""
    import jinja2

    from pcompile import __version__

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    context = {
        **answers,
        "cloud_title": answers["cloud"].upper(),
        "pulumi_version": PULUMI_VERSION,
        "pytest_version": PYTEST_VERSION,
        "pcompile_version": __version__,
        "pcompile_lines": source.lines,
        "pcompile_from": source.origin,
    }
    files = {
        answers["app_file"]: env.get_template("app.py.j2").render(context),
        f"stacks/{answers['stack']}.yaml": env.get_template("stack.yaml.j2").render(context),
        "requirements.txt": env.get_template("requirements.txt.j2").render(context),
        "test_app.py": env.get_template("test_app.py.j2").render(context),
    }
    if answers["ci"] == "github":
        steps = {
            f"{part}_steps": env.get_template(f"github-{part}-steps.yml.j2").render(context).rstrip("\n")
            for part in ("setup", "cloud")
        }
        workflow = env.get_template("github-workflow.yml.j2").render({**context, **steps})
        files[".github/workflows/pcompile.yml"] = workflow
    return files


def write_scaffold(
    directory: Path, answers: dict[str, str], source: sources.PcompileSource, *, force: bool
) -> list[str]:
    """Write the scaffold under ``directory``; refuses to overwrite without ``force``."""
    files: dict[str, str | bytes] = {**render_scaffold(answers, source)}
    if source.wheel_file is not None:
        # Committed with the app: CI installs exactly these bytes, looked up by no name.
        files[f"wheels/{source.wheel_file.name}"] = source.wheel_file.read_bytes()
    existing = sorted(rel for rel in files if (directory / rel).exists())
    if existing and not force:
        raise UserError(
            f"{', '.join(existing)} already exist(s) in {directory}",
            fix="pass --force to overwrite, or run `pcompile init` in an empty folder",
        )
    for rel, text in sorted(files.items()):
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return sorted(files)


def shown_path(path: Path) -> str:
    """``path`` as the user typed it: relative to the working directory when under it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def next_steps(answers: dict[str, str], directory: Path, source: sources.PcompileSource) -> str:
    """What to do after ``pcompile init``."""
    import shlex

    stack = answers["stack"]
    lines = ["next:"]
    if directory.absolute() != Path.cwd():
        lines.append(f"  cd {shlex.quote(shown_path(directory))}")
    if source.wheel_missing and not (directory / source.wheel_missing).is_file():
        lines.append(
            f"  put pcompile's wheel at {source.wheel_missing} and commit it"
            " (`python -m build --wheel` in a pcompile checkout; or see --pcompile-source)"
        )
    lines.append(f"  pcompile run {answers['app_file']}")
    provider = registry.get(answers["cloud"])
    if provider.remote:
        lines.append(f"  pcompile bootstrap --stack {stack}   # once per account and region")
    lines.append(f"  pcompile deploy {answers['app_file']} --stack {stack}")
    if answers["ci"] == "github":
        lines.append(f"  set {provider.ci_settings()} and secret PULUMI_CONFIG_PASSPHRASE")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the deploy commands to the ``pcompile`` app."""
    app.command("deploy")(deploy_cmd)
    app.command("destroy")(destroy_cmd)
    app.command("bootstrap")(bootstrap_cmd)
    app.command("logs")(logs_cmd)
    app.command("init")(init_cmd)
    app.add_typer(app_group, name="app")
