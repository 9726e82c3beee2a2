"""Pushing an AWS stack's images: the builder, with each app's ECR repository created first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pcompile.compiler.ir import AppSpec
from pcompile.providers import deploy as dep
from pcompile.providers.settings import StackSettings


def ensure_ecr_repository(ref: str, region: str | None, client: Any = None) -> None:
    """Create the ECR repository of ``ref`` (``acct.dkr.ecr.region.amazonaws.com/repo:tag``) if missing."""
    import boto3

    repo = ref.split("/", 1)[1].rsplit(":", 1)[0]
    ecr = client or boto3.client("ecr", region_name=region)
    try:
        ecr.create_repository(
            repositoryName=repo,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"},
        )
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass


class EcrPublisher:
    """Creates the app's ECR repository before the first push."""

    def __init__(self, inner: dep.ImagePublisher, region: str | None) -> None:
        self.inner = inner
        self.region = region

    def exists(self, ref: str) -> bool:
        """Delegate."""
        return self.inner.exists(ref)

    def publish(self, image: Any, ref: str, root: Path) -> None:
        """Ensure the repository, then build and push."""
        if ".dkr.ecr." in ref:
            ensure_ecr_repository(ref, self.region)
        self.inner.publish(image, ref, root)


def publisher(settings: StackSettings, root: Path, app: AppSpec) -> dep.ImagePublisher:
    """The stack's builder pushing to ``settings.registry`` (simulate: the emulator's ECR)."""
    if settings.engine == "simulate":
        from pcompile.providers.simulate.images import SimulatePublisher

        return SimulatePublisher(app, root, settings.name, settings.region)
    from pcompile.providers.builders import BuilderPublisher, ImageBuilder

    return EcrPublisher(BuilderPublisher(ImageBuilder.for_stack(settings, root), app), settings.region)
