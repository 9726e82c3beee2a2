"""Images for ``engine: simulate`` stacks: real ECR entries in the emulator, runnable here.

:class:`SimulatePublisher` is the :class:`~pcompile.providers.deploy.ImagePublisher`
of simulate stacks. No container registry answers on these machines, so "pushing"
an image means:

1. building the image's local environment exactly as ``pcompile run`` does
   (:func:`pcompile.providers.local.envs.ensure`), which the simulated compute runs;
2. creating the ECR repository in the emulator (as deploy does on AWS) and putting an
   image manifest under the content-addressed tag (``ecr:PutImage``), so the ref the
   Lambda functions and job definitions name exists in the emulator's ECR.

The manifest's ``annotations`` say where that environment is
(:data:`ANNOTATION_ENV`: the environment's folder; :data:`ANNOTATION_IMAGE`: the IR
image id), so the simulated compute finds what to run from the image URI alone, by
``ecr:BatchGetImage`` (:func:`local_environment`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pcompile.compiler.ir import AppSpec, ImageSpec

ANNOTATION_ENV = "dev.pcompile.local-env"
ANNOTATION_IMAGE = "dev.pcompile.image-id"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def split_ref(ref: str) -> tuple[str, str]:
    """``acct.dkr.ecr.region.amazonaws.com/repo/name:tag`` → (``repo/name``, ``tag``)."""
    path = ref.split("/", 1)[1] if "/" in ref else ref
    repo, _, tag = path.rpartition(":")
    return repo, tag


def image_manifest(image_id: str, env_path: Path) -> str:
    """A minimal OCI manifest naming the image's local environment (sorted keys)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
        "annotations": {ANNOTATION_ENV: str(env_path), ANNOTATION_IMAGE: image_id},
    }
    return json.dumps(manifest, sort_keys=True)


class SimulatePublisher:
    """Builds each image's local environment and registers the image in the emulator's ECR."""

    def __init__(self, app: AppSpec, region: str | None, ecr: Any = None) -> None:
        import boto3

        self.app = app
        self.ecr = ecr or boto3.client("ecr", region_name=region)

    def exists(self, ref: str) -> bool:
        """Whether the emulator's ECR has ``ref`` and its local environment is built."""
        repo, tag = split_ref(ref)
        try:
            found = self.ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": tag}])["images"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return False
        if not found:
            return False
        env = json.loads(found[0]["imageManifest"]).get("annotations", {}).get(ANNOTATION_ENV, "")
        return bool(env) and Path(env, "bin", "python").exists()

    def publish(self, image: ImageSpec, ref: str, root: Path) -> None:
        """Build the local environment, then ``ecr:PutImage`` its manifest as ``ref``."""
        from pcompile.providers.local import envs

        plan = envs.plan_app(self.app, root).get(image.id)
        if plan is None:  # an image no function uses still gets a plain environment
            plan = envs.plan_image(image, root)
        path = envs.ensure(plan)
        repo, tag = split_ref(ref)
        try:
            self.ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
        except self.ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        try:
            self.ecr.put_image(
                repositoryName=repo, imageManifest=image_manifest(image.id, path), imageTag=tag
            )
        except self.ecr.exceptions.ImageAlreadyExistsException:
            pass


def local_environment(image_uri: str, ecr: Any) -> Path:
    """The local environment folder behind an image URI in the emulator's ECR."""
    repo, tag = split_ref(image_uri)
    images = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": tag}])["images"]
    if not images:
        raise LookupError(f"image {image_uri} is not in the emulator's ECR")
    return Path(json.loads(images[0]["imageManifest"])["annotations"][ANNOTATION_ENV])
