# ---
# Web services on AWS: `pcompile synth examples/gpu_web_services.py --cloud aws`
# ---
# Four Modal web services that AWS Lambda cannot host, each an ECS service behind an
# Application Load Balancer and CloudFront (docs/aws.md, "Web services"):
# a GPU `web_server` (EC2, A10G), an `app.server` class on an H100, a CPU `web_server`
# (Fargate) and a GPU `fastapi_endpoint`. They scale to zero when idle.

import subprocess
import sys

import modal

app = modal.App("gpu-web-services")
image = modal.Image.debian_slim(python_version="3.11").pip_install("fastapi[standard]")

PORT = 8000


@app.function(gpu="A10G", image=image, timeout=1800, max_containers=4, scaledown_window=300)
@modal.concurrent(max_inputs=16, target_inputs=8)
@modal.web_server(PORT, startup_timeout=120)
def llm_ui():
    subprocess.Popen([sys.executable, "-m", "http.server", str(PORT), "--bind", "0.0.0.0"])


@app.server(gpu="H100", image=image, port=8080, startup_timeout=600, min_containers=1, max_containers=2)
class Inference:
    @modal.enter()
    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", "8080", "--bind", "0.0.0.0"])


@app.function(image=image, cpu=2, memory=4096)
@modal.web_server(PORT)
def docs_site():
    subprocess.Popen([sys.executable, "-m", "http.server", str(PORT), "--bind", "0.0.0.0"])


@app.function(gpu="L4", image=image, buffer_containers=1)
@modal.fastapi_endpoint(method="POST")
def embed(item: dict):
    return {"length": len(str(item))}
