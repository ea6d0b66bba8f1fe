"""Models and servers: ``models list|pull`` and ``serve-check``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from llmlabel import api, models
from llmlabel.cli.app import Opt, app, models_app, out


@app.command("serve-check")
def serve_check_(
    base_url: Annotated[str, typer.Argument(help="The server's /v1 URL.")],
    model: Annotated[str | None, Opt(help="Model to probe (default: the first listed).")] = None,
    api_key_env: Annotated[str, Opt(help="Env var holding the API key.")] = "OPENAI_API_KEY",
) -> None:
    """Probe an OpenAI-compatible server: models, n, structured output, logprobs, context."""
    report = api.serve_check(base_url, model=model, api_key_env=api_key_env)
    table = Table("probe", "works", "details", title=f"{report.base_url} · {report.model}")
    table.add_row("models", "yes", ", ".join(report.models) or "none listed")
    table.add_row("max context", "", report.context or "unknown")
    for dialect, probe in report.dialects.items():
        known = "" if dialect in ("structured_outputs", "guided_json", "json_schema") else "*"
        table.add_row(f"structured: {dialect}{known}", _yes(probe.ok), probe.detail)
    probes = (("n > 1", report.n), ("logprobs", report.logprobs), ("label probes", report.prefill))
    for name, found in probes:
        if found is not None:
            table.add_row(name, _yes(found.ok), found.detail)
    out.print(table)
    out.print("* probed for information; llmlabel does not send this dialect", highlight=False)
    out.print(f"llmlabel will use: structured_output {report.structured_output}", highlight=False)
    out.print(report.backend_yaml(api_key_env), markup=False, highlight=False)


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


@models_app.command("list")
def models_list() -> None:
    """Known models, their sources and whether they are downloaded."""
    table = Table("name", "size", "cached", "source", "about")
    for info, cached in models.list_models():
        table.add_row(
            info.name,
            f"{info.size / 1e6:,.0f} MB",
            "yes" if cached else "no",
            info.source_summary,
            info.description,
        )
    out.print(table)
    out.print(f"cache: {models.cache_dir() / 'models'}  (set LLMLABEL_CACHE_DIR to move it)")


@models_app.command("pull")
def models_pull(name: Annotated[str, typer.Argument(help="A name from `models list`.")]) -> None:
    """Download a model into the cache (sha256 verified)."""
    path = models.pull(name, progress=True)
    out.print(f"{name}: {path}")
