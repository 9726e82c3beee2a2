"""``pcompile bootstrap`` on GCP: the names of the shared pieces and the program creating them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcompile.providers.cloud_stores import SharedNames
from pcompile.providers.settings import StackSettings


def shared_names(
    settings: StackSettings, state_bucket: str | None, account: Callable[[], str] | None = None
) -> SharedNames:
    """Staging bucket ``<project>-pcompile-staging`` and the project's Artifact Registry
    repository (``account`` is AWS's; a project id names everything here)."""
    from pcompile.providers.gcp import names as gcp_names

    project, region = settings.project or "", settings.region or "us-central1"
    return SharedNames(
        state_bucket=state_bucket,
        staging_bucket=settings.extra.get("staging_bucket") or f"{project}-pcompile-staging",
        registry=gcp_names.registry(project, region, settings.registry),
    )


def define_bootstrap(settings: StackSettings, names: SharedNames) -> dict[str, Any]:
    """Private GCS buckets (the state bucket versioned), the Docker repository and the
    stack's Firestore database (native mode) holding every app's Dicts and Queues.

    The database is the stack's, not an app's: Modal's named Dicts and Queues are shared by
    every app, and a database id is unique in the project. It is named (never ``(default)``,
    which a project may already use, even in Datastore mode), so a function's IAM condition
    names it alone. ``pcompile destroy`` of bootstrap keeps it (``ABANDON``): it holds data.
    """
    import pulumi_gcp as gcp

    from pcompile.providers.gcp import names as gcp_names

    labels = {"pcompile-stack": settings.name, "pcompile": "bootstrap", **settings.labels}
    for role, bucket_name in names.buckets().items():
        gcp.storage.Bucket(
            f"pcompile-{role}",
            name=bucket_name,
            project=settings.project,
            location=(settings.region or "us-central1").upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": role == "state"},
            labels=labels,
        )
    gcp.artifactregistry.Repository(
        "pcompile-registry",
        repository_id=gcp_names.BOOTSTRAP_REPOSITORY,
        project=settings.project,
        location=settings.region or "us-central1",
        format="DOCKER",
        labels=labels,
    )
    gcp.firestore.Database(
        "pcompile-kv",
        name=gcp_names.firestore_database(settings.name),
        project=settings.project,
        location_id=settings.region or "us-central1",
        type="FIRESTORE_NATIVE",
        deletion_policy="ABANDON",
    )
    return names.to_json()
