"""``publish push``: upload a published folder to the Hugging Face Hub.

The folder's checksums are verified first (a folder edited by hand is refused); the token
comes from the usual places (``HF_TOKEN``, ``huggingface-cli login``'s stored token) through
``huggingface_hub.get_token``. Large folders use ``upload_large_folder`` where the installed
hub client has it, else ``upload_folder``. ``dry_run`` lists what would be uploaded, needs no
token and touches no network.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from hepatokit.contracts.common import PRIVATE
from hepatokit.errors import HepatokitError
from hepatokit.publish.checksums import CHECKSUM_FILE, folder_files, verify_checksums

__all__ = ["LARGE_FOLDER_BYTES", "PushPlan", "publish_push"]

log = logging.getLogger("hepatokit.publish.push")

#: above this total size the resumable ``upload_large_folder`` is used
LARGE_FOLDER_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class PushPlan:
    """What a push uploads (``files``: relative path → bytes) and where."""

    repo_id: str
    private: bool
    files: dict[str, int] = field(default_factory=dict)
    uploaded: bool = False
    url: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def _built_for(folder: Path) -> str | None:
    """The repo id the folder's card was written for (``dataset_meta.json``), if any."""
    meta = folder / "dataset_meta.json"
    if not meta.is_file():
        return None
    try:
        value = json.loads(meta.read_text(encoding="utf-8")).get("repo_id")
    except ValueError:
        return None
    return str(value) if value else None


def publish_push(
    *,
    hf_dir: str | Path,
    repo_id: str,
    private: bool = True,
    dry_run: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
) -> PushPlan:
    """Upload ``hf_dir`` to the dataset repo ``repo_id`` (created if needed).

    The repo is created private unless ``private=False`` (clinical data is never public by
    default); an existing repo keeps its visibility. A folder built for another repo
    (``publish build --repo``) is refused, so the card never names the wrong repo.

    Raises
    ------
    DataFormatError
        The folder fails its checksums (regenerate it with ``publish build``).
    HepatokitError
        ``repo_id`` is not ``ORG/NAME``, the folder was built for another repo, or no token
        is configured (and not ``dry_run``).
    """
    folder = Path(hf_dir)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HepatokitError(f"repo id {repo_id!r} is not ORG/NAME", hint="e.g. my-lab/lifs")
    verify_checksums(folder)
    if (folder / PRIVATE).exists():
        raise HepatokitError(
            "the folder holds a private/ folder, which is never published",
            path=folder,
            hint="publish from the folder `publish build --out` wrote, not from a BUILD",
        )
    built_for = _built_for(folder)
    if built_for is not None and built_for != repo_id:
        raise HepatokitError(
            f"the folder was built for {built_for!r}, not {repo_id!r}: its card names that repo",
            path=folder,
            hint=f"push to {built_for}, or rebuild with `publish build --repo {repo_id}`",
        )
    files = {rel: (folder / rel).stat().st_size for rel in [*folder_files(folder), CHECKSUM_FILE]}
    plan = PushPlan(repo_id=repo_id, private=private, files=dict(sorted(files.items())))
    if dry_run:
        log.info("dry run: %d files, %d bytes to %s", len(files), plan.total_bytes, repo_id)
        return plan
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise HepatokitError(
            "no Hugging Face token configured; refusing to push",
            hint="run `hf auth login` or set HF_TOKEN (or use --dry-run to list the upload)",
        )
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    large = getattr(api, "upload_large_folder", None)  # resumable; absent in hub >= 1.0
    if plan.total_bytes > LARGE_FOLDER_BYTES and large is not None:
        large(repo_id=repo_id, folder_path=folder, repo_type="dataset", private=private)
    else:
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="dataset",
            commit_message=commit_message or "Upload dataset built with hepatokit",
        )
    return PushPlan(
        repo_id=repo_id,
        private=private,
        files=plan.files,
        uploaded=True,
        url=f"https://huggingface.co/datasets/{repo_id}",
    )
