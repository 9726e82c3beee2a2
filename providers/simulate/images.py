"""Images for ``engine: simulate`` stacks: real ECR entries in the emulator, runnable here.

:class:`SimulatePublisher` is the :class:`~pcompile.providers.deploy.ImagePublisher`
of simulate stacks. No container registry answers on these machines, so "pushing"
an image means:

1. building the image's local environment exactly as ``pcompile run`` does, and
   recording ``image URI -> environment`` for the simulated compute
   (:class:`pcompile.providers.simulate.compute_images.SimulatedImages`);
2. creating the ECR repository in the emulator (as deploy does on AWS) and putting an
   image manifest under the content-addressed tag (``ecr:PutImage``), so the ref the
   Lambda functions and job definitions name exists in the emulator's ECR; the
   manifest's annotations name the IR image id (:data:`ANNOTATION_IMAGE`).

An image counts as published only when both hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pcompile.compiler.ir import AppSpec, ImageSpec

ANNOTATION_IMAGE = "dev.pcompile.image-id"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def split_ref(ref: str) -> tuple[str, str]:
    """``acct.dkr.ecr.region.amazonaws.com/repo/name:tag`` → (``repo/name``, ``tag``)."""
    path = ref.split("/", 1)[1] if "/" in ref else ref
    repo, _, tag = path.rpartition(":")
    return repo, tag


def image_manifest(image_id: str) -> str:
    """A minimal OCI manifest naming the IR image (sorted keys)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
        "annotations": {ANNOTATION_IMAGE: image_id},
    }
    return json.dumps(manifest, sort_keys=True)


class SimulatePublisher:
    """Records each image's local environment and registers the image in the emulator's ECR."""

    def __init__(self, app: AppSpec, root: Path, stack: str, region: str | None, ecr: Any = None) -> None:
        import boto3

        from pcompile.providers.simulate.compute import state_dir
        from pcompile.providers.simulate.compute_images import SimulatedImages

        self.local = SimulatedImages(state_dir(root, stack), app)
        self.ecr = ecr or boto3.client("ecr", region_name=region)

    def exists(self, ref: str) -> bool:
        """Whether the emulator's ECR has ``ref`` and its local environment is built."""
        repo, tag = split_ref(ref)
        try:
            found = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": tag}])["images"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return False
        return bool(found) and self.local.exists(ref)

    def publish(self, image: ImageSpec, ref: str, root: Path) -> None:
        """Build the local environment, then ``ecr:PutImage`` a manifest as ``ref``."""
        self.local.publish(image, ref, root)
        repo, tag = split_ref(ref)
        try:
            self.ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
        except self.ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        try:
            self.ecr.put_image(repositoryName=repo, imageManifest=image_manifest(image.id), imageTag=tag)
        except self.ecr.exceptions.ImageAlreadyExistsException:
            pass
