"""GCP Batch job templates: the JSON body of ``projects.locations.jobs.create`` for one function.

A template is built at synth time (plain data: every name in it is derived from
the stack settings, none is a Pulumi output), stored with the deployment as a GCS
object, and completed by the invoker at call time with :func:`for_call`: the
call's environment (where its inputs and results live) and ``taskCount`` (a
``.map`` runs one task per slice of inputs; ``BATCH_TASK_INDEX`` picks the slice).
No Pulumi and no cloud SDK here.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from pcompile.providers.gcp.placement import GcpBatchPlacement

# The entrypoint is set too, so a user's ``Image.entrypoint([...])`` cannot swallow the command.
RUNTIME_ENTRYPOINT = "python"
RUNTIME_COMMAND = ("-m", "pcompile.runtime", "gcpbatch")
# Tasks of one map run side by side up to this many VMs at once.
MAX_PARALLELISM = 100
# Exit codes Batch gives a task lost with its VM, not by its own failure: 50001 preempted
# (Spot), 50002 VM reporting timeout, 50003 VM rebooted, 50004 VM unresponsive, 50006 VM
# recreated (50005, past maxRunDuration, is the function's timeout and is not retried).
# Source: https://cloud.google.com/batch/docs/troubleshooting#reserved-exit-codes
PREEMPTION_EXIT_CODES = (50001, 50002, 50003, 50004, 50006)
# Retries for lost VMs on top of the user's ``Retries`` (A3 1/2/4-GPU shapes are Spot-only).
PREEMPTION_RETRIES = 3
MAX_RETRY_COUNT = 10  # Batch's upper bound for maxRetryCount


def job_template(
    placement: GcpBatchPlacement,
    *,
    image: str,
    service_account: str,
    region: str,
    env: dict[str, str],
    secret_env: dict[str, str],
    labels: dict[str, str],
    volumes: list[dict[str, Any]] | None = None,
    network: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The job body for ``placement`` with one task; ``volumes`` (GCS and NFS mounts) go in
    the task spec and ``network`` (the VPC a Filestore share is on) in the allocation policy."""
    job: dict[str, Any] = {
        "taskGroups": [
            {
                "taskCount": "1",
                "parallelism": "1",
                **_packing(placement),
                "taskSpec": {
                    "runnables": [
                        {
                            "container": {
                                "imageUri": image,
                                "entrypoint": RUNTIME_ENTRYPOINT,
                                "commands": list(RUNTIME_COMMAND),
                            }
                        }
                    ],
                    "computeResource": {
                        "cpuMilli": str(math.ceil(placement.cpu * 1000)),
                        "memoryMib": str(placement.memory_mib),
                    },
                    "maxRunDuration": f"{placement.timeout_s}s",
                    "maxRetryCount": min(MAX_RETRY_COUNT, placement.max_retry_count + PREEMPTION_RETRIES),
                    "lifecyclePolicies": [_retry_lost_vms()],
                    "environment": {
                        "variables": dict(sorted(env.items())),
                        "secretVariables": dict(sorted(secret_env.items())),
                    },
                },
            }
        ],
        "allocationPolicy": {
            "instances": [
                {
                    "policy": _instance_policy(placement),
                    "installGpuDrivers": placement.accelerator is not None,
                }
            ],
            "serviceAccount": {"email": service_account},
            "location": {"allowedLocations": [f"regions/{region}"]},
        },
        "labels": dict(sorted(labels.items())),
        "logsPolicy": {"destination": "CLOUD_LOGGING"},
    }
    if volumes:
        job["taskGroups"][0]["taskSpec"]["volumes"] = volumes
    if network:
        job["allocationPolicy"]["network"] = network
    return job


def _packing(placement: GcpBatchPlacement) -> dict[str, Any]:
    """GPU tasks own their VM's accelerators: Batch packs by CPU and memory alone, so without
    ``taskCountPerNode: 1`` two tasks of a map could share one GPU."""
    return {"taskCountPerNode": "1"} if placement.accelerator else {}


def _retry_lost_vms() -> dict[str, Any]:
    """Retry a task whose VM was preempted or lost, whatever the user's retries (Batch allows
    one lifecycle policy; other non-zero exits fall to the default: retry up to maxRetryCount)."""
    return {"action": "RETRY_TASK", "actionCondition": {"exitCodes": list(PREEMPTION_EXIT_CODES)}}


def _instance_policy(placement: GcpBatchPlacement) -> dict[str, Any]:
    shape = placement.shape
    policy: dict[str, Any] = {"machineType": shape.machine_type, "provisioningModel": shape.provisioning}
    if placement.accelerator:
        policy["accelerators"] = [{"type": placement.accelerator, "count": str(placement.accelerator_count)}]
    return policy


def for_call(template: dict[str, Any], *, call_env: dict[str, str], task_count: int) -> dict[str, Any]:
    """A copy of ``template`` for one call: extra environment and ``task_count`` tasks."""
    job = copy.deepcopy(template)
    group = job["taskGroups"][0]
    group["taskCount"] = str(task_count)
    group["parallelism"] = str(min(task_count, MAX_PARALLELISM))
    variables = group["taskSpec"]["environment"]["variables"]
    variables.update(call_env)
    group["taskSpec"]["environment"]["variables"] = dict(sorted(variables.items()))
    return job
