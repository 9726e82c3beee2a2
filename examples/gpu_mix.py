"""A mixed GPU/CPU app, written in plain Modal style (the AWS acceptance app).

    pcompile synth examples/gpu_mix.py --cloud aws

shows Batch compute environments for the A100 (p4d/p4de), H100:8 (p5), T4 (g4dn),
L4 (g6, falling back to A10G on g5) and L40S (g6e) functions, Lambda functions for
the CPU ones, the two schedules as ``cron(0 2 * * ? *)`` and ``rate(5 hours)``, a
public Function URL for the POST endpoint, the volume's bucket and Secrets Manager
access scoped to ``hf-token``.
"""

import modal

app = modal.App("gpu-mix")
image = modal.Image.debian_slim(python_version="3.11").pip_install("numpy")
weights = modal.Volume.from_name("weights", create_if_missing=True)
hf_token = modal.Secret.from_name("hf-token")


@app.function(image=image, gpu="A100", timeout=3600, retries=modal.Retries(max_retries=2))
def train_a100(steps: int) -> float:
    return steps * 0.5


@app.function(image=image, gpu="H100:8", timeout=7200, volumes={"/weights": weights})
def train_h100x8(shards: int) -> int:
    return shards * 8


@app.function(image=image, gpu="T4", min_containers=1)
def embed_t4(texts: list[str]) -> list[int]:
    return [len(t) for t in texts]


@app.function(image=image, gpu=["L4", "A10G"])
def infer_l4(prompt: str) -> str:
    return prompt.upper()


@app.function(image=image, gpu="L40S", secrets=[hf_token])
def render_l40s(scene: str) -> str:
    return f"rendered {scene}"


@app.function(image=image, schedule=modal.Cron("0 2 * * *"), secrets=[hf_token])
def nightly_report() -> str:
    return "report"


@app.function(image=image, schedule=modal.Period(hours=5), max_containers=2)
def refresh_cache() -> int:
    return 0


@app.function(image=image, timeout=3600, cpu=4.0, memory=8192)
def long_etl(day: str) -> str:
    return day


@app.function(image=image, volumes={"/weights": weights})
@modal.fastapi_endpoint(method="POST")
def predict(item: dict) -> dict:
    return {"echo": item}


@app.cls(image=image, memory=2048, min_containers=1)
class Model:
    @modal.enter()
    def load(self) -> None:
        self.scale = 2

    @modal.method()
    def generate(self, x: int) -> int:
        return x * self.scale


@app.local_entrypoint()
def main() -> None:
    print(Model().generate.remote(21))
