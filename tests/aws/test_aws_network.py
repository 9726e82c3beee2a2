"""The VPC pcompile creates for Batch: one subnet in every zone the account is offered, never
guessed zone letters (issue 19, item 5)."""

from __future__ import annotations

import dataclasses
import ipaddress

from aws_apps import AWS_SETTINGS, fn

from pcompile.compiler.ir import AppSpec, GpuSpec
from pcompile.providers.aws import shared
from pcompile.providers.synth import SynthOutput, synthesize

SUBNET = "aws:ec2/subnet:Subnet"


def _subnets(out: SynthOutput) -> dict[str, str]:
    return {r.inputs["availabilityZone"]: r.inputs["cidrBlock"] for r in out.result.of_type(SUBNET)}


def test_subnets_follow_the_zones_the_account_is_offered(gpu_mix_synth: SynthOutput) -> None:
    # The mock engine answers getAvailabilityZones with a, c and d (as ap-northeast-1 has no b).
    subnets = _subnets(gpu_mix_synth)
    assert sorted(subnets) == ["us-east-1a", "us-east-1c", "us-east-1d"]
    blocks = [ipaddress.ip_network(c) for c in subnets.values()]
    assert all(b.subnet_of(ipaddress.ip_network("10.40.0.0/16")) for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    compute = gpu_mix_synth.result.of_type("aws:batch/computeEnvironment:ComputeEnvironment")
    assert all(len(r.inputs["computeResources"]["subnets"]) == 3 for r in compute)


def test_a_region_other_than_us_east_1_gets_its_own_zones() -> None:
    app = AppSpec(name="tokyo", functions=(fn("train", 5, gpu=GpuSpec("A100")),), images=())
    out = synthesize("aws", app, dataclasses.replace(AWS_SETTINGS, region="ap-northeast-1"))
    assert sorted(_subnets(out)) == ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]


def test_the_stack_may_name_the_zones() -> None:
    app = AppSpec(name="zoned", functions=(fn("train", 5, gpu=GpuSpec("H100", 8)),), images=())
    zones = ["us-east-1b", "us-east-1e", "us-east-1f", "us-east-1a"]
    settings = dataclasses.replace(AWS_SETTINGS, extra={"availability_zones": zones})
    assert sorted(_subnets(synthesize("aws", app, settings))) == sorted(zones)


def test_subnet_blocks_do_not_overlap_for_six_zones() -> None:
    blocks = [ipaddress.ip_network(c) for c in shared.subnet_cidrs("10.40.0.0/16", 6)]
    assert len({b.network_address for b in blocks}) == 6 and all(b.prefixlen == 20 for b in blocks)
