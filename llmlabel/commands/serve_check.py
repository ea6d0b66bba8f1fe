"""``llmlabel serve-check``: probe an OpenAI-compatible server and say how llmlabel will use it.

A handful of small requests: ``GET /models`` (names, vLLM's ``max_model_len``), llama.cpp's
``/props`` (context size, slots), one chat request per structured-output dialect, one with
``n > 1``, one with ``logprobs`` and one that continues a prefilled answer (the label probes of
``confidence: logprob``). A dialect counts as working only if the answer follows a schema no
model would follow unasked (one key with one made-up allowed value), because servers ignore
request fields they do not know instead of refusing them; for the same reason a prefill counts
only if the answer goes on from it (the made-up value's rest) rather than starting anew.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from llmlabel.errors import ConfigError, hide_secret

N_PROBE = 8
"""``n`` asked for; llmlabel's default cap per request (openai_compat.DEFAULT_MAX_N)."""
DIALECTS = ("structured_outputs", "guided_json", "json_schema", "json_object", "llama_json_schema")
"""Probed in this order; the first three are what llmlabel can send (``structured_output:``),
in order of preference (vLLM's own field keeps llguidance's JSON options)."""
KNOWN = DIALECTS[:3]
_KEY, _VALUE = "probe_k7", "zq7x"
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {_KEY: {"type": "string", "enum": [_VALUE]}},
    "required": [_KEY],
    "additionalProperties": False,
}
_PROMPT = "Say hello in five words."


@dataclass
class Probe:
    """What one request found: ``ok``, and what the server said or answered."""

    ok: bool
    detail: str


@dataclass
class ServeReport:
    base_url: str
    model: str
    models: list[str]
    context: str | None
    dialects: dict[str, Probe] = field(default_factory=dict)
    n: Probe | None = None
    max_n: int | None = None
    """A cap on ``n`` the server stated, if lower than ``N_PROBE``."""
    logprobs: Probe | None = None
    prefill: Probe | None = None
    """Whether the server continues a prefilled answer (``continue_final_message``)."""

    @property
    def structured_output(self) -> str:
        """The dialect llmlabel will send: the first known one that works, else ``none``."""
        return next((d for d in KNOWN if self.dialects[d].ok), "none")

    def backend_yaml(self, api_key_env: str) -> str:
        lines = [
            "backend:",
            "  type: openai_compat",
            f"  base_url: {self.base_url}",
            f"  model: {self.model}",
            f"  structured_output: {self.structured_output}",
        ]
        if self.max_n is not None:
            lines.append(f"  max_n: {self.max_n}")
        if api_key_env != "OPENAI_API_KEY":
            lines.append(f"  api_key_env: {api_key_env}")
        return "\n".join(lines)


def check(
    base_url: str,
    *,
    model: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    timeout: float = 60.0,
) -> ServeReport:
    """Probe ``base_url`` (a ``/v1`` URL); an unreachable server is a ``ConfigError``."""
    key = os.environ.get(api_key_env)
    hide_secret(key)  # a server may echo it back in an error body
    client = _Client(base_url.rstrip("/"), key, timeout)
    status, listing = client.get("/models")
    if status != 200 or not isinstance(listing, dict):
        raise ConfigError(
            f"GET {client.url}/models answered HTTP {status}: {_said(listing)}",
            where=base_url,
            hint="is this the server's /v1 URL? (and is the API key in $" + api_key_env + "?)",
        )
    cards = [c for c in listing.get("data") or [] if isinstance(c, dict) and "id" in c]
    names = [str(c["id"]) for c in cards]
    chosen = model or (names[0] if names else "")
    if not chosen:
        raise ConfigError(
            f"{client.url}/models lists no model", where=base_url, hint="pass --model"
        )
    card = next((c for c in cards if c["id"] == chosen), {})
    report = ServeReport(client.url, chosen, names, _context(client, card))
    for dialect in DIALECTS:
        report.dialects[dialect] = _dialect(client, chosen, dialect)
    report.n, report.max_n = _n(client, chosen)
    report.logprobs = _logprobs(client, chosen)
    report.prefill = _prefill(client, chosen)
    return report


class _Client:
    def __init__(self, url: str, key: str | None, timeout: float) -> None:
        self.url, self._timeout = url, timeout
        self._headers = {"Content-Type": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str, *, root: bool = False) -> tuple[int, Any]:
        base = re.sub(r"/v1$", "", self.url) if root else self.url
        return self._send(urllib.request.Request(base + path, headers=self._headers))

    def chat(self, model: str, **body: Any) -> tuple[int, Any]:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": _PROMPT}],
            "max_tokens": 48,
            "temperature": 1.0,
            **body,
        }
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + "/chat/completions", data=data, headers=self._headers, method="POST"
        )
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(
                f"cannot reach {self.url}: {reason}",
                hint="is the server running, and is this its /v1 URL "
                "(e.g. http://127.0.0.1:8000/v1)?",
            ) from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:200]


def _said(answer: Any) -> str:
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))[:200]
        if error is not None:
            return str(error)[:200]
        return str(answer.get("message") or answer.get("detail") or answer)[:200]
    return str(answer)[:200]


def _context(client: _Client, card: dict[str, Any]) -> str | None:
    """The longest prompt + answer, from vLLM's model card or llama.cpp's ``/props``."""
    if isinstance(card.get("max_model_len"), int):
        return f"{card['max_model_len']} tokens (max_model_len)"
    try:
        status, props = client.get("/props", root=True)
    except ConfigError:
        props, status = None, 0
    if status == 200 and isinstance(props, dict):
        n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
        slots = props.get("total_slots")
        if isinstance(n_ctx, int):
            shared = f", shared by {slots} slots" if isinstance(slots, int) and slots > 1 else ""
            return f"{n_ctx} tokens (llama.cpp n_ctx{shared})"
    meta = card.get("meta") or {}
    if isinstance(meta.get("n_ctx_train"), int):
        return f"{meta['n_ctx_train']} tokens (trained context; the server may use less)"
    return None


def _dialect_body(dialect: str) -> dict[str, Any]:
    if dialect == "structured_outputs":
        return {"structured_outputs": {"json": _SCHEMA}}
    if dialect == "guided_json":
        return {"guided_json": _SCHEMA}
    if dialect == "json_schema":
        schema = {"name": "probe", "schema": _SCHEMA, "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    if dialect == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {"json_schema": _SCHEMA}  # llama.cpp's own top-level field


def _dialect(client: _Client, model: str, dialect: str) -> Probe:
    status, answer = client.chat(model, **_dialect_body(dialect))
    if status != 200:
        return Probe(False, f"HTTP {status}: {_said(answer)}")
    text = _texts(answer)[:1]
    if not text:
        return Probe(False, "no answer text")
    try:
        value = json.loads(text[0])
    except ValueError:
        return Probe(False, f"not JSON: {text[0][:60]!r}")
    if dialect == "json_object":
        return Probe(isinstance(value, dict), "a JSON object" if isinstance(value, dict) else "")
    if value == {_KEY: _VALUE}:
        return Probe(True, "answer follows the schema")
    return Probe(False, f"schema ignored: {text[0][:60]!r}")


def _n(client: _Client, model: str) -> tuple[Probe, int | None]:
    status, answer = client.chat(model, n=N_PROBE)
    if status == 200:
        got = len(_texts(answer))
        if got == N_PROBE:
            return Probe(True, f"{got} choices for n={N_PROBE}"), None
        cap = max(1, got)
        return Probe(False, f"{got} choice(s) for n={N_PROBE}"), cap
    said = _said(answer)
    bounds = re.findall(r"<=\s*(\d+)", said)  # llama.cpp: "1 <= value <= 3"
    if bounds:
        cap = int(bounds[-1])
        return Probe(cap > 1, f"capped at {cap} (HTTP {status}: {said})"), cap
    return Probe(False, f"HTTP {status}: {said}"), 1


def _logprobs(client: _Client, model: str) -> Probe:
    status, answer = client.chat(model, logprobs=True)
    if status != 200:
        return Probe(False, f"HTTP {status}: {_said(answer)}")
    choices = answer.get("choices") or [{}]
    content = ((choices[0] or {}).get("logprobs") or {}).get("content")
    if content:
        return Probe(True, f"{len(content)} token logprobs")
    return Probe(False, "no token logprobs in the answer")


def _prefill(client: _Client, model: str) -> Probe:
    """Label probes continue a final assistant message: vLLM and llama.cpp do, hosted OpenAI
    refuses the field, and some servers ignore it and start a new answer."""
    start = '{"' + _KEY + '": "' + _VALUE[:2]
    asked = f'Reply with exactly this JSON: {{"{_KEY}": "{_VALUE}"}}'
    status, answer = client.chat(
        model,
        messages=[{"role": "user", "content": asked}, {"role": "assistant", "content": start}],
        continue_final_message=True,
        add_generation_prompt=False,
        max_tokens=4,
        temperature=0.0,
    )
    if status != 200:
        return Probe(False, f"HTTP {status}: {_said(answer)}")
    text = (_texts(answer) or [""])[0]
    # llama.cpp's answer repeats the prefill; four tokens cannot spell it anew.
    rest = text.removeprefix(start)
    if rest.startswith(_VALUE[2:3]):
        return Probe(True, "continues a prefilled answer")
    return Probe(
        False,
        f"answered {text[:40]!r} after the prefilled {start!r}: not its continuation "
        "(the server may ignore continue_final_message)",
    )


def _texts(answer: Any) -> list[str]:
    if not isinstance(answer, dict):
        return []
    choices = answer.get("choices") or []
    return [str((c.get("message") or {}).get("content") or "") for c in choices]
