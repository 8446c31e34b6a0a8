"""Reference data files: where they live, their checksums, and how to download them.

The data files are never committed. They are read from a data directory (see
:func:`resolve_data_dir`) and, where missing, downloaded by :func:`fetch` from the
pinned public URLs in :data:`MANIFEST`, each checked against its sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, DataError
from .io import atomic_write, missing_dirs, remove_empty_dirs

ENV_DATA_DIR = "KVSCHED_DATA_DIR"


@dataclass(frozen=True)
class DataFile:
    """One reference data file.

    Attributes:
        relpath: path inside the data directory.
        url: pinned download URL, or None where the file must be built (see ``note``).
        sha256: hex digest of the file's bytes.
        license: the source's license.
        source: ``repository @ commit, path``, for provenance.
        note: extra remarks (how to build it, caveats).
    """

    relpath: str
    url: str | None
    sha256: str
    license: str
    source: str
    note: str = ""


def _raw(repo: str, commit: str, path: str) -> str:
    # GitHub raw accepts abbreviated commit hashes; full ones are used where known.
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


_AZURE = ("Azure/AzurePublicDataset", "b469a113")
_MOONCAKE = ("kvcache-ai/Mooncake", "3b5a5941")
_SARATHI = ("microsoft/sarathi-serve", "72339db5b120614033b317880ad3a05a5e4c9415")
_VIDUR = ("microsoft/vidur", "7d475133")
_SPLITWISE = ("Mutinifni/splitwise-sim", "8f99e7dc")
ALPACA_EVAL_REPO = "tatsu-lab/alpaca_eval"
ALPACA_EVAL_COMMIT = "cd543a14"  # only the abbreviated hash is recorded upstream of us

# The 16 AlpacaEval generators, in the order their records appear in the built file.
ALPACA_EVAL_MODELS: tuple[str, ...] = (
    "llama-2-7b-chat-hf", "llama-2-13b-chat-hf", "vicuna-7b-v1.5", "vicuna-13b-v1.5",
    "Meta-Llama-3-8B-Instruct", "Meta-Llama-3-70B-Instruct", "Mistral-7B-Instruct-v0.2",
    "Mixtral-8x7B-Instruct-v0.1", "Qwen1.5-72B-Chat", "gpt4_1106_preview", "gpt-3.5-turbo-0613",
    "gpt4_0613_concise", "gpt4_0613_verbose", "claude-2.1", "zephyr-7b-beta",
    "llama-2-70b-chat-hf",
)


def _entry(key_repo: tuple[str, str], path: str, relpath: str, sha: str, lic: str,
           note: str = "") -> DataFile:
    repo, commit = key_repo
    return DataFile(relpath, _raw(repo, commit, path), sha, lic, f"{repo} @ {commit}, {path}", note)


MANIFEST: dict[str, DataFile] = {
    "azure_conv": _entry(
        _AZURE, "data/AzureLLMInferenceTrace_conv.csv",
        "azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
        "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8", "CC-BY 4.0"),
    "azure_code": _entry(
        _AZURE, "data/AzureLLMInferenceTrace_code.csv",
        "azure_llm_2023/AzureLLMInferenceTrace_code.csv",
        "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6", "CC-BY 4.0"),
    "mooncake_conv": _entry(
        _MOONCAKE, "FAST25-release/traces/conversation_trace.jsonl",
        "mooncake_fast25/conversation_trace.jsonl",
        "b8cbb061a85206d729d91cdc2981f43c9e0d99209dce588d3af5f7934408b9df", "Apache-2.0"),
    "mooncake_synthetic": _entry(
        _MOONCAKE, "FAST25-release/traces/synthetic_trace.jsonl",
        "mooncake_fast25/synthetic_trace.jsonl",
        "bd070915a98fc0ed264d7cfef2ce746002eb3076a695ec31ba2674c0111ec131", "Apache-2.0"),
    "sharegpt": _entry(
        _SARATHI, "data/processed_traces/sharegpt_8k_filtered_stats_llama2_tokenizer.csv",
        "sharegpt_lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv",
        "6d6c296302a853e2669a674a96f269283e60c57e60363bd450588a1066919f9f", "Apache-2.0",
        "branch niyama_asplos2026"),
    "arxiv_summarization": _entry(
        _VIDUR, "data/processed_traces/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv",
        "arxiv_summarization_lengths/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv",
        "9d3580538d915ca75e4aaaa54590b42dbb17abc6d74c8913310cf07c232adcdc", "MIT"),
    "splitwise_perf_model": _entry(
        _SPLITWISE, "data/perf_model.csv", "splitwise_perf_model/perf_model.csv",
        "dbbe505d1d64fc4bd1ec03c50edf944643586de4f68a81e94cbd55dd5bdfbf41", "MIT"),
    "alpaca_eval": DataFile(
        "alpaca_eval/model_outputs.jsonl.gz", None,
        "011268d4a3304710b54c216e83e8420567aee3c0997a288bd795160b784738e1",
        "data CC BY-NC 4.0",
        f"{ALPACA_EVAL_REPO} @ {ALPACA_EVAL_COMMIT}, results/<model>/model_outputs.json (16 models)",
        "no single upstream file: built by build_alpaca_eval() from 16 model_outputs.json files"),
}


# ---------------------------------------------------------------------------- locating

def _repo_root() -> Path | None:
    """The nearest ancestor of this file that holds a pyproject.toml, if any."""
    for d in Path(__file__).resolve().parents:
        if (d / "pyproject.toml").is_file():
            return d
    return None


def resolve_data_dir(configured: str | Path | None = None) -> Path:
    """The data directory.

    Precedence: ``configured`` (if not None/empty); env ``KVSCHED_DATA_DIR``;
    ``<repo root>/../shared/data`` or ``<cwd>/../shared/data`` if it exists;
    else ``<repo root>/data`` (``./data`` outside a checkout). The result need not exist.
    """
    if configured is not None and str(configured) != "":
        return Path(configured).expanduser()
    env = os.environ.get(ENV_DATA_DIR, "")
    if env:
        return Path(env).expanduser()
    root = _repo_root()
    for base in ([root] if root else []) + [Path.cwd()]:
        cand = base.parent / "shared" / "data"
        if cand.is_dir():
            return cand.resolve()
    return (root / "data") if root else Path.cwd() / "data"


def _entry_for(key: str) -> DataFile:
    try:
        return MANIFEST[key]
    except KeyError:
        raise ConfigError(f"unknown data file {key!r}; valid: {', '.join(sorted(MANIFEST))}") from None


ENV_NO_VERIFY = "KVSCHED_NO_CHECKSUM"
_VERIFIED: dict[tuple[str, int, int], str] = {}


def fetch_command(keys: str | Iterable[str], data_dir: str | Path, force: bool = False) -> str:
    """The ``kvsched data fetch`` command line that puts the file(s) ``keys`` into ``data_dir``
    (``--data-dir`` is named only where it is not the default directory)."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    cmd = ["kvsched", "data", "fetch", *(["--force"] if force else []), *keys]
    if Path(data_dir).resolve() != resolve_data_dir(None).resolve():
        cmd += ["--data-dir", str(data_dir)]
    return shlex.join(cmd)


def data_path(key: str, data_dir: str | Path | None = None, verify: bool = True) -> Path:
    """Path of manifest file ``key`` in the data directory. DataError if it is missing or (with
    ``verify``, unless $KVSCHED_NO_CHECKSUM=1) its sha256 differs from the manifest's; each file
    is hashed once per process (keyed by path, size and mtime)."""
    entry = _entry_for(key)
    d = resolve_data_dir(data_dir)
    p = d / entry.relpath
    if not p.is_file():
        raise DataError(
            f"data file {entry.relpath!r} ({key}) not found in {d}. Run `{fetch_command(key, d)}` "
            f"to download it, or set {ENV_DATA_DIR} (or the config key data.dir) to a folder "
            f"that has it."
        )
    if verify and entry.sha256 and os.environ.get(ENV_NO_VERIFY) != "1":
        st = p.stat()
        k = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if k not in _VERIFIED:
            _VERIFIED[k] = sha256_file(p)
        if _VERIFIED[k] != entry.sha256:
            raise DataError(
                f"data file {p} ({key}) is corrupted or modified: sha256 {_VERIFIED[k][:16]}… differs from "
                f"the expected {entry.sha256[:16]}…. Restore it with `{fetch_command(key, d, force=True)}`, "
                f"or set {ENV_NO_VERIFY}=1 to use it anyway.")
    return p


# ---------------------------------------------------------------------------- checksums

def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _keys(keys: Iterable[str] | None) -> list[str]:
    ks = list(MANIFEST) if keys is None else list(keys)
    for k in ks:
        _entry_for(k)
    return ks


def verify(data_dir: str | Path | None = None, keys: Iterable[str] | None = None) -> dict[str, str]:
    """Checksum status per manifest key: ``"ok"``, ``"missing"`` or ``"mismatch"``."""
    d = resolve_data_dir(data_dir)
    out: dict[str, str] = {}
    for k in _keys(keys):
        p = d / MANIFEST[k].relpath
        if not p.is_file():
            out[k] = "missing"
        else:
            out[k] = "ok" if sha256_file(p) == MANIFEST[k].sha256 else "mismatch"
    return out


# ---------------------------------------------------------------------------- downloading

ENV_DATA_MIRROR = "KVSCHED_DATA_MIRROR"
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def mirror_url(mirror: str | Path, relpath: str) -> str:
    """URL of data file ``relpath`` in ``mirror``: a base URL (``https://``, ``file://``, …) or a
    local folder, laid out like the data directory (``<mirror>/<relpath>``)."""
    m = str(mirror)
    if _URL_SCHEME.match(m):
        base = m.rstrip("/")
    else:
        d = Path(m).expanduser()
        if not d.is_dir():
            raise ConfigError(f"data mirror {m!r} is neither a URL (https://, file://, ...) nor a folder")
        base = d.resolve().as_uri()
    return f"{base}/{urllib.parse.quote(relpath)}"


def _install(dest: Path, entry: DataFile, write: Callable[[io.BufferedWriter], None],
             source: str | None = None) -> None:
    """Write via ``write`` to a temp file beside ``dest``, check sha256, then rename atomically.
    The file gets the usual permissions (0666 less the umask), not the temp file's 0600.
    ``source`` (a URL) is named in a checksum error.

    On any failure (a checksum mismatch, a download error, an interrupt) the temp file and the
    folders made for it are deleted: nothing half-written is left behind.
    """
    made = missing_dirs(dest.parent)

    def checked(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)
        actual = sha256_file(tmp)
        if actual != entry.sha256:
            raise DataError(
                f"checksum mismatch for {entry.relpath!r}{f' from {source}' if source else ''}: "
                f"expected sha256 {entry.sha256}, got {actual}; the download was deleted"
            )

    try:
        atomic_write(dest, checked)      # the temp file is removed on any failure
    except BaseException:
        remove_empty_dirs(made)
        raise


# What a failed download raises: URLError (HTTPError, unreachable host, a missing file:// path),
# OSError (timeouts, resets), HTTPException (a malformed or truncated response).
_NET_ERRORS = (OSError, http.client.HTTPException)


def _download_error(what: str, url: str, e: BaseException) -> DataError:
    reason = e.reason if type(e) is urllib.error.URLError else e   # HTTPError's str has the code
    return DataError(f"could not download {what} from {url}: {reason}")


def _urlopen(url: str, what: str):
    try:
        return urllib.request.urlopen(url, timeout=60)
    except _NET_ERRORS as e:
        raise _download_error(what, url, e) from e


def _download_to(url: str, f: io.BufferedWriter, label: str, progress: bool) -> None:
    """Copy ``url`` into ``f``. With ``progress``, a line on stderr redrawn per MB on a terminal;
    elsewhere (a log, a pipe) one line once the file is in, not a run of carriage returns."""
    live = progress and sys.stderr.isatty()
    shown = False
    try:
        with _urlopen(url, label) as r:
            total = int(r.headers.get("Content-Length") or 0)
            done = 0
            while True:
                try:
                    chunk = r.read(1 << 20)
                except _NET_ERRORS as e:
                    raise _download_error(label, url, e) from e
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                if live:
                    of = f"/{total / 1e6:.1f}" if total else ""
                    print(f"\r{label}: {done / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)
                    shown = True
        if progress and not live:
            print(f"{label}: {done / 1e6:.1f} MB", file=sys.stderr)
    finally:
        if shown:
            print(file=sys.stderr)


def fetch(data_dir: str | Path | None = None, keys: Iterable[str] | None = None,
          force: bool = False, progress: bool = True, mirror: str | Path | None = None) -> dict[str, str]:
    """Download missing data files (and, with ``force``, replace mismatching ones).

    Files come from their pinned upstream URLs or, with ``mirror`` (default
    ``$KVSCHED_DATA_MIRROR``; ``""`` for none), from ``<mirror>/<relpath>``: a base URL or a
    local folder laid out like the data directory (see :func:`mirror_url`); alpaca_eval is then
    copied as it is, not built. Every file is checked against its sha256 either way.
    A file that is present with the right checksum is never touched. Returns a status per
    key: ``"ok"`` (already good), ``"downloaded"``, ``"built"`` (alpaca_eval) or
    ``"mismatch"`` (present, wrong checksum, left alone because ``force`` is False).
    A file whose download fails or whose checksum differs leaves nothing behind; the other
    files are still fetched, and then DataError is raised naming each failed file and its URL.
    """
    d = resolve_data_dir(data_dir)
    if mirror is None:
        mirror = os.environ.get(ENV_DATA_MIRROR, "")
    out: dict[str, str] = {}
    failed: list[str] = []
    ks = _keys(keys)
    for k in ks:
        entry = MANIFEST[k]
        dest = d / entry.relpath
        if dest.is_file():
            if sha256_file(dest) == entry.sha256:
                out[k] = "ok"
                continue
            if not force:
                out[k] = "mismatch"
                if progress:
                    print(f"{entry.relpath}: sha256 differs, left as it is (--force replaces it)",
                          file=sys.stderr)
                continue
        url = mirror_url(mirror, entry.relpath) if str(mirror) else entry.url
        try:
            if url is None:
                if k != "alpaca_eval":
                    raise DataError(f"no download URL for {entry.relpath!r}: {entry.note}")
                _install(dest, entry, lambda f: _write_alpaca_eval(f, progress))
                out[k] = "built"
            else:
                label = f"{entry.relpath} ({k})"
                _install(dest, entry, lambda f: _download_to(url, f, label, progress), source=url)
                out[k] = "downloaded"
        except DataError as e:   # go on with the other files; report every failure at the end
            failed.append(str(e))
            if progress and k != ks[-1]:
                print(f"{entry.relpath}: failed (reported at the end); going on with the other files",
                      file=sys.stderr)
    if failed:
        msg = failed[0] if len(failed) == 1 else \
            f"{len(failed)} files could not be fetched:\n" + "\n".join(f"  {m}" for m in failed)
        if out:
            msg += "\nthe other files: " + ", ".join(f"{k} {v}" for k, v in out.items())
        bad = [k for k, v in out.items() if v == "mismatch"]
        if bad:
            msg += f"\nthe mismatching files were left as they are; `{fetch_command(bad, d, force=True)}` replaces them"
        raise DataError(msg)
    return out


# ---------------------------------------------------------------------------- alpaca_eval

_ALPACA_FIELDS = ("dataset", "instruction", "generator", "output")
_ALPACA_GZIP_MTIME = 1795266304  # from the reference file's gzip header: makes the build byte-exact


def _write_alpaca_eval(f: io.BufferedWriter, progress: bool = False) -> None:
    with gzip.GzipFile(filename="model_outputs.jsonl", mode="wb", fileobj=f, compresslevel=9,
                       mtime=_ALPACA_GZIP_MTIME) as gz, io.TextIOWrapper(gz, encoding="utf-8") as t:
        for model in ALPACA_EVAL_MODELS:
            url = _raw(ALPACA_EVAL_REPO, ALPACA_EVAL_COMMIT, f"results/{model}/model_outputs.json")
            if progress:
                print(f"alpaca_eval: {model}", file=sys.stderr)
            what = f"results/{model}/model_outputs.json for {MANIFEST['alpaca_eval'].relpath} (alpaca_eval)"
            with _urlopen(url, what) as r:
                try:
                    records = json.load(r)
                except _NET_ERRORS as e:
                    raise _download_error(what, url, e) from e
            for rec in records:
                row = {k: rec.get(k, model if k == "generator" else None) for k in _ALPACA_FIELDS}
                t.write(json.dumps(row) + "\n")


def build_alpaca_eval(dest: str | Path, progress: bool = True) -> Path:
    """Build ``alpaca_eval/model_outputs.jsonl.gz`` from the 16 upstream files.

    Downloads ``results/<model>/model_outputs.json`` for each model of
    :data:`ALPACA_EVAL_MODELS` from tatsu-lab/alpaca_eval at the pinned commit and writes
    one JSON object a line with the fields dataset/instruction/generator/output, gzip'ed
    with the reference file's header so that the result is byte-identical (checked with
    sha256). ``dest`` is a data directory or the target file path. Untested offline: the
    test suite cannot reach GitHub; the serialisation was checked against the reference file.
    """
    entry = MANIFEST["alpaca_eval"]
    dest = Path(dest)
    if dest.is_dir() or not dest.name.endswith(".gz"):
        dest = dest / entry.relpath
    _install(dest, entry, lambda f: _write_alpaca_eval(f, progress))
    return dest
