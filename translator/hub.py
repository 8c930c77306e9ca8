"""Name or repo id -> a local folder holding `config.json` + `model.safetensors`, and where it came from.

Order of resolution:
1. a shipped model name (`list_models()`: every `assets/models/<name>/shipped.json`) or any Hub repo id is
   fetched through `huggingface_hub` (normal cache, pinned revision, honours HF_ENDPOINT / HF_HUB_OFFLINE /
   HF_HOME); any other name that is a local folder (config.json + model.safetensors) is used as it is,
   unless the caller forbids local folders (a public app does);
2. a shipped model whose Hub copy cannot be had (offline, unreachable, not published, damaged) falls back
   to the copy bundled in `assets/models/<name>`; the Provenance says so and why.

huggingface_hub retries a failed connection five times with back-off (~25 s), so before asking it we try a
plain TCP connection to the endpoint (TRANSLATOR_HUB_TIMEOUT, default 3 s; skipped behind a proxy). If
that fails we ask the cache only: a machine with no network falls back in seconds, never hangs.
Only safetensors are ever read: nothing is unpickled.
"""
from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                    OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)

from .base import Provenance
from .errors import WeightsNotFoundError


class NotOnHubError(WeightsNotFoundError):
    """The Hub answered, and has no such repository, revision or file (not a network failure)."""

WEIGHT_FILES = ("config.json", "model.safetensors")
OPTIONAL_FILES = ("README.md",)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def bundled_models_dir() -> Path:
    """assets/models of a checkout (or $TRANSLATOR_ASSETS/models); translator/bundled in an installed wheel."""
    if "TRANSLATOR_ASSETS" in os.environ:
        return Path(os.environ["TRANSLATOR_ASSETS"]) / "models"
    checkout = Path(__file__).resolve().parent.parent / "assets" / "models"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "bundled"


def example_images(family: str, domains: tuple[str, str], examples: Path | None = None) -> list[Path]:
    """A model's example inputs for the app: its family's own folder (assets/examples/<family>), where that
    folder is for these domains (its examples.json's "domains", if it says), or else the held-out images of
    other families named after one of its domains (`noto-1f308.png`), so a family trained on an existing
    domain pair shares that pair's examples."""
    examples = examples or bundled_models_dir().parent / "examples"
    own = sorted((examples / family).glob("*.png")) if _folder_fits(examples / family, domains) else []
    if own:
        return own
    shared = {p.name: p for p in sorted(examples.glob("*/*.png")) if p.name.startswith(tuple(f"{d}-" for d in domains))}
    return [shared[name] for name in sorted(shared)]


def _folder_fits(folder: Path, domains: tuple[str, str]) -> bool:
    """Whether a family's example folder suits a model of these domains: it says none, or says these."""
    try:
        declared = json.loads((folder / "examples.json").read_text()).get("domains")
    except (OSError, ValueError, AttributeError):
        declared = None
    return declared is None or sorted(declared) == sorted(domains)


def example_style_references(family: str, domains: tuple[str, str], examples: Path | None = None) -> list[Path]:
    """A style family's example style references (assets/examples/<family>/styles/), for models of the
    domains the folder is for."""
    folder = (examples or bundled_models_dir().parent / "examples") / family
    return sorted((folder / "styles").glob("*.png")) if _folder_fits(folder, domains) else []


def example_reference_sets(family: str, examples: Path | None = None) -> dict[str, tuple[list[str], str]]:
    """Few-shot examples: each folder of assets/examples/<family>/ is one set of reference images; its
    examples.json gives each set the word to write in that style. name -> (image paths, word)."""
    root = (examples or bundled_models_dir().parent / "examples") / family
    words = json.loads((root / "examples.json").read_text()) if (root / "examples.json").exists() else {}
    sets = {}
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        images = sorted(str(p) for p in folder.glob("*.png"))
        if images:
            sets[folder.name] = (images, words.get(folder.name, ""))
    return sets


@dataclass(frozen=True)
class ShippedModel:
    """A model the app ships: its bundled copy is `<models>/<name>/` with config.json, model.safetensors,
    the card, and `shipped.json` saying where it lives on the Hub. Shipping a model is adding that folder."""
    name: str
    family: str
    repo_id: str
    revision: str  # pinned: a commit sha once published; "main" until the first upload
    summary: str
    bundled: Path


def find_shipped(models: Path | None = None) -> dict[str, ShippedModel]:
    models = models or bundled_models_dir()
    shipped = {}
    for folder in sorted(models.glob("*/shipped.json")):
        folder = folder.parent
        hub = json.loads((folder / "shipped.json").read_text())
        family = json.loads((folder / "config.json").read_text())["family"]
        shipped[folder.name] = ShippedModel(folder.name, family, hub["repo_id"], hub["revision"], hub["summary"], folder)
    return shipped


SHIPPED = find_shipped()


def hub_timeout() -> float:
    return float(os.environ.get("TRANSLATOR_HUB_TIMEOUT", "3"))


_reachable: dict[str, tuple[float, bool]] = {}  # endpoint -> (when checked, answer)


def hub_reachable(recheck_after: float = 60.0) -> bool:
    """Can we open a TCP connection to the Hub endpoint? Remembered for a minute."""
    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return True  # a proxy decides; let the client find out
    endpoint = constants.ENDPOINT
    checked = _reachable.get(endpoint)
    if checked and time.monotonic() - checked[0] < recheck_after:
        return checked[1]
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=hub_timeout()).close()
        ok = True
    except OSError:
        ok = False
    _reachable[endpoint] = (time.monotonic(), ok)
    return ok


def resolve(name_or_path: str | os.PathLike, revision: str | None = None, allow_local: bool = True) -> Provenance:
    """Find the weights. Raises WeightsNotFoundError with a clear message when there are none.
    With `allow_local=False` (a public app) the file system is never looked at for the name."""
    name = str(name_or_path)
    shipped = SHIPPED.get(name)
    if allow_local and shipped is None:
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            _check_folder(path)
            return Provenance("local", path)
    if shipped is None and not REPO_ID.match(name):
        folders = ", a local folder" if allow_local else ""
        shown = name if len(name) <= 80 else f"{name[:60]}… ({len(name)} characters)"  # messages are logged
        raise WeightsNotFoundError(
            f"'{shown}' is not a shipped model ({', '.join(SHIPPED)}){folders} or a Hub repo id (owner/name).")
    repo_id = shipped.repo_id if shipped else name
    revision = revision or (shipped.revision if shipped else "main")
    try:
        folder = download(repo_id, revision)
        return Provenance("hub" if hub_reachable() else "hub-cache", folder, repo_id, revision)
    except WeightsNotFoundError as err:
        if shipped is None:
            raise
        if not (shipped.bundled / "model.safetensors").exists():
            raise WeightsNotFoundError(f"{err} The bundled copy {shipped.bundled} is missing too.") from None
        return Provenance("bundled", shipped.bundled, repo_id, revision, note=str(err),
                          fallback="not on the Hub" if isinstance(err, NotOnHubError) else "Hub not reachable")


def hub_deadline() -> float:
    return float(os.environ.get("TRANSLATOR_HUB_DEADLINE", "8"))


def download(repo_id: str, revision: str, optional: tuple[str, ...] = OPTIONAL_FILES) -> Path:
    """`fetch_files` under a deadline (TRANSLATOR_HUB_DEADLINE, default 8 s): a Hub that accepts and never
    answers, or trickles its body, must not hold a user (or the app's start) for minutes. The download goes
    on in the background and, if it completes, lands in the cache for next time."""
    result: dict = {}

    def work():
        try:
            result["folder"] = fetch_files(repo_id, revision, optional)
        except BaseException as err:  # noqa: BLE001  (handed to the caller below)
            result["error"] = err

    worker = threading.Thread(target=work, daemon=True, name=f"hub-download {repo_id}")
    worker.start()
    worker.join(hub_deadline())
    if worker.is_alive():
        _reachable[constants.ENDPOINT] = (time.monotonic(), False)  # the next model asks the cache only
        raise WeightsNotFoundError(f"The Hub at {constants.ENDPOINT} did not deliver '{repo_id}' (revision {revision}) "
                                   f"within {hub_deadline():g} s.")
    if "error" in result:
        raise result["error"]
    return result["folder"]


def fetch_files(repo_id: str, revision: str, optional: tuple[str, ...] = OPTIONAL_FILES) -> Path:
    """The weight files of one revision into the normal Hub cache, and the `optional` ones it has (the card;
    the finishing stage's measurements); errors as WeightsNotFoundError."""
    where = f"'{repo_id}' (revision {revision}) on {constants.ENDPOINT}"
    online = hub_reachable()
    fetch = lambda filename: Path(hf_hub_download(  # noqa: E731
        repo_id, filename, revision=revision, etag_timeout=hub_timeout(), local_files_only=not online))
    paths = []
    try:
        for filename in WEIGHT_FILES:
            paths.append(fetch(filename))
        for filename in optional:
            try:
                fetch(filename)
            except (EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError, OSError):
                pass  # nice to have
    except GatedRepoError:
        raise WeightsNotFoundError(f"{where} is gated: accept its terms on the Hub and log in (`hf auth login`).") from None
    except RepositoryNotFoundError:
        raise NotOnHubError(f"No model repository {where} (or it is private: log in first).") from None
    except RevisionNotFoundError:
        raise NotOnHubError(f"{where}: that revision does not exist.") from None
    except (OfflineModeIsEnabled, LocalEntryNotFoundError):
        raise WeightsNotFoundError(
            f"Cannot reach the Hub for {where} and it is not in the local cache "
            f"({'HF_HUB_OFFLINE is set' if constants.HF_HUB_OFFLINE else 'no connection'}).") from None
    except EntryNotFoundError:
        raise NotOnHubError(
            f"{where} has no {filename}: Translator Studio reads config.json + model.safetensors "
            f"(safetensors only; pickled .bin/.pth files are never loaded).") from None
    except (HfHubHTTPError, OSError) as err:
        raise WeightsNotFoundError(f"The Hub failed for {where}: {err}") from None
    except Exception as err:  # noqa: BLE001  (httpx's protocol errors: a reset, a non-HTTP reply, a short body...)
        raise WeightsNotFoundError(f"The Hub failed for {where}: {type(err).__name__}: {err}") from None
    return paths[0].parent


def _check_folder(path: Path) -> None:
    missing = [f for f in WEIGHT_FILES if not (path / f).is_file()]
    if missing:
        raise WeightsNotFoundError(f"{path} has no {' or '.join(missing)}.")
