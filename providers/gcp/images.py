"""Pushing a GCP stack's images: the builder, into the bootstrap's Artifact Registry repository."""

from __future__ import annotations

from pathlib import Path

from pcompile.compiler.ir import AppSpec
from pcompile.providers import deploy as dep
from pcompile.providers.settings import StackSettings


def publisher(settings: StackSettings, root: Path, app: AppSpec) -> dep.ImagePublisher:
    """The stack's builder pushing to ``settings.registry`` (simulate: local environments)."""
    if settings.engine == "simulate":
        from pcompile.providers.simulate.gcp_engine import image_publisher

        return image_publisher(settings, root, app)
    from pcompile.providers.builders import BuilderPublisher, ImageBuilder

    return BuilderPublisher(ImageBuilder.for_stack(settings, root), app)
