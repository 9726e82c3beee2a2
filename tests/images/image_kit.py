"""Hand-built IR for the image tests (until then the SDK compiler is not needed)."""

from __future__ import annotations

from pcompile.compiler.ir import AppSpec, FunctionSpec, ImageSpec, ImageStep, Source

ACCEPTANCE_STEPS = (
    ImageStep("apt_install", {"packages": ["git", "ffmpeg"]}),
    ImageStep("pip_install", {"packages": ["numpy==2.1.0", "pandas"]}),
    ImageStep("env", {"vars": {"MODE": "prod", "HF_HOME": "/cache"}}),
    ImageStep("run_commands", {"commands": ["echo built > /built.txt", "python -c 'import numpy'"]}),
)

APP_SOURCE = """import modal

app = modal.App("demo")


@app.function()
def square(x):
    return x * x
"""


def acceptance_image(*steps: ImageStep) -> ImageSpec:
    """debian_slim(3.11) + apt + pip + env + run_commands (+ extra steps)."""
    return ImageSpec(
        id="im-accept",
        base=ImageStep("debian_slim", {"python_version": "3.11"}),
        steps=(*ACCEPTANCE_STEPS, *steps),
        python_version="3.11",
    )


def app_with(image: ImageSpec, module: str = "demo", file: str = "demo.py") -> AppSpec:
    """An app whose one function ``square`` lives in ``file`` and uses ``image``."""
    fn = FunctionSpec(name="square", module=module, qualname="square", source=Source(file, 6), image=image.id)
    return AppSpec(name="demo", functions=(fn,), images=(image,))
