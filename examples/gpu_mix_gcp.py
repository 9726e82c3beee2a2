"""A mixed GPU/CPU app for GCP: `pcompile synth examples/gpu_mix_gcp.py --cloud gcp`.

Placement on GCP (see docs/gcp.md):
* A100, H100:8 and T4 functions run as GCP Batch jobs (a2-highgpu-1g, a3-highgpu-8g,
  n1-standard-8 + nvidia-tesla-t4);
* the L4 function and the ["L40S", "L4"] class run on Cloud Run with an nvidia-l4 GPU
  (GCP has no L40S, so the fallback list picks L4);
* CPU functions, the schedules and the POST endpoint are Cloud Run services.
"""

import modal

app = modal.App("gpu-mix")
image = modal.Image.debian_slim(python_version="3.11").pip_install("numpy")
weights = modal.Volume.from_name("weights", create_if_missing=True)
hf_token = modal.Secret.from_name("hf-token", required_keys=["HF_TOKEN"])


@app.function(image=image, gpu="A100", timeout=2 * 60 * 60, volumes={"/weights": weights})
def train_a100(steps: int) -> str:
    with open(f"/weights/run-{steps}.txt", "w") as fh:
        fh.write("trained")
    weights.commit()
    return f"trained {steps} steps"


@app.function(image=image, gpu="H100:8", timeout=4 * 60 * 60)
def train_h100x8(config: dict) -> dict:
    return {"ok": True, **config}


@app.function(image=image, gpu="T4")
def transcode_t4(path: str) -> str:
    return path.replace(".mov", ".mp4")


@app.function(image=image, gpu="L4", secrets=[hf_token])
@modal.concurrent(max_inputs=4)
def infer_l4(prompt: str) -> str:
    return prompt.upper()


@app.cls(image=image, gpu=["L40S", "L4"])
class Embedder:
    @modal.enter()
    def load(self) -> None:
        self.dim = 4

    @modal.method()
    def embed(self, text: str) -> list[float]:
        return [float(len(text))] * self.dim


@app.function(image=image, min_containers=1, max_containers=10)
def square(x: int) -> int:
    return x * x


@app.function(image=image, schedule=modal.Cron("0 2 * * *"), volumes={"/weights": weights})
def nightly() -> None:
    weights.reload()
    print("nightly run")


@app.function(image=image, schedule=modal.Period(hours=6))
def refresh() -> None:
    print("refreshed")


@app.function(image=image)
@modal.fastapi_endpoint(method="POST")
def predict(item: dict) -> dict:
    return {"prediction": square.local(int(item.get("x", 0)))}


@app.local_entrypoint()
def main() -> None:
    print(square.remote(7))
    print(infer_l4.remote("hello"))
