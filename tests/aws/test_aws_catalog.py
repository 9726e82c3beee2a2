"""The AWS GPU catalog: data with sources, lookups over a table passed in."""

from __future__ import annotations

import pytest

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import GpuRequest, GpuSpec, Source
from pcompile.providers.aws import catalog

TINY = """gpu,count,instance_type,vcpus,memory_gib,source
T4,1,g4dn.xlarge,4,16,https://example.invalid/g4
H100,1,p5.4xlarge,16,256,https://example.invalid/p5
H100,8,p5.48xlarge,192,2048,https://example.invalid/p5
"""
SRC = Source("app.py", 7)


def test_every_shipped_row_cites_a_source_and_has_sane_sizes() -> None:
    rows = catalog.load_catalog()
    assert rows
    for row in rows:
        assert row.source.startswith("https://aws.amazon.com/ec2/instance-types/")
        assert row.count in (1, 4, 8) and row.vcpus >= 4 and row.memory_gib >= 16


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        ("T4", {"g4dn"}),
        ("L4", {"g6"}),
        ("A10G", {"g5"}),
        ("A10", {"g5"}),
        ("L40S", {"g6e"}),
        ("A100", {"p4d", "p4de"}),
        ("A100-40GB", {"p4d"}),
        ("A100-80GB", {"p4de"}),
        ("H100", {"p5"}),
        ("H200", {"p5e", "p5en"}),
        ("B200", {"p6-b200"}),
    ],
)
def test_gpu_types_map_to_their_instance_families(gpu: str, expected: set[str]) -> None:
    rows = catalog.instances_for(catalog.load_catalog(), GpuRequest(gpu))
    assert {r.instance_type.split(".")[0] for r in rows} == expected


def test_count_filters_instances_that_hold_enough_gpus() -> None:
    table = catalog.load_catalog(TINY)
    assert [r.instance_type for r in catalog.instances_for(table, GpuRequest("H100", 8))] == ["p5.48xlarge"]
    assert len(catalog.instances_for(table, GpuRequest("h100", 1))) == 2


def test_a_count_no_instance_holds_is_a_user_error_with_the_fix() -> None:
    with pytest.raises(UserError) as err:
        catalog.resolve(catalog.load_catalog(TINY), GpuSpec("H100", 16), SRC)
    text = str(err.value)
    assert "app.py:7" in text and "at most 8" in text and "H100:8" in text


def test_unknown_gpu_names_the_known_ones() -> None:
    with pytest.raises(UserError) as err:
        catalog.resolve(catalog.load_catalog(TINY), GpuSpec("X9000"), SRC)
    assert "'X9000' is not an AWS GPU type" in str(err.value) and "T4" in str(err.value)


def test_fallbacks_skip_impossible_choices_and_keep_order() -> None:
    table = catalog.load_catalog(TINY)
    resolution = catalog.resolve(table, GpuSpec("T4", 4, (GpuRequest("H100", 4),)), SRC)
    assert resolution.first == GpuRequest("H100", 4)
    assert resolution.instance_types() == ("p5.48xlarge",)


def test_any_means_the_inference_gpus() -> None:
    rows = catalog.instances_for(catalog.load_catalog(), GpuRequest("ANY"))
    assert {r.gpu for r in rows} == {"T4", "L4", "A10G"}
