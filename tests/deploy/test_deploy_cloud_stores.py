"""Cloud-side pieces of deploy against real components: moto server and Pulumi's mock engine."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from pcompile.compiler.errors import UserError
from pcompile.compiler.stacks import parse_stack
from pcompile.providers.aws.images import ensure_ecr_repository
from pcompile.providers.aws.manifests import SsmManifestStore
from pcompile.providers.aws.stores import S3Store
from pcompile.providers.cloud_stores import (
    bootstrap,
    define_bootstrap,
    fetch_logs,
    parse_since,
    shared_names,
)
from pcompile.providers.deploy import FakeEngine, QuietProgress
from pcompile.providers.gcp.logs import cloud_logging_filter
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.providers.synth import run_mocked

AWS = parse_stack({"cloud": "aws", "region": "us-east-1", "state_backend": "s3://my-state"}, Path("dev.yaml"))
GCP = parse_stack({"cloud": "gcp", "region": "europe-west4", "project": "proj"}, Path("dev.yaml"))


def test_shared_names_are_derived_from_account_and_region() -> None:
    names = shared_names(AWS, account=lambda: "123456789012")
    assert names.staging_bucket == "pcompile-staging-123456789012-us-east-1"
    assert names.registry == "123456789012.dkr.ecr.us-east-1.amazonaws.com/pcompile"
    assert names.state_bucket == "my-state"
    gcp = shared_names(GCP)
    assert (gcp.staging_bucket, gcp.registry) == (
        "proj-pcompile-staging",
        "europe-west4-docker.pkg.dev/proj/pcompile",
    )
    assert gcp.state_bucket is None


def test_aws_bootstrap_program_makes_private_encrypted_buckets() -> None:
    names = shared_names(AWS, account=lambda: "123456789012")
    result = run_mocked(lambda: define_bootstrap(AWS, names), project="b", stack="dev", region="us-east-1")
    buckets = {r.inputs["bucket"] for r in result.of_type("aws:s3/bucket:Bucket")}
    assert buckets == {"my-state", "pcompile-staging-123456789012-us-east-1"}
    blocks = result.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert len(blocks) == 2 and all(b.inputs["restrictPublicBuckets"] for b in blocks)
    assert (
        len(
            result.of_type(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
            )
        )
        == 2
    )
    assert len(result.of_type("aws:s3/bucketVersioning:BucketVersioning")) == 1


def test_gcp_bootstrap_program_makes_private_buckets_and_a_registry() -> None:
    result = run_mocked(
        lambda: define_bootstrap(GCP, shared_names(GCP)), project="b", stack="dev", region="x"
    )
    (bucket,) = result.of_type("gcp:storage/bucket:Bucket")
    assert bucket.inputs["publicAccessPrevention"] == "enforced" and bucket.inputs["uniformBucketLevelAccess"]
    (repo,) = result.of_type("gcp:artifactregistry/repository:Repository")
    assert repo.inputs["format"] == "DOCKER" and repo.inputs["repositoryId"] == "pcompile"


def test_bootstrap_runs_its_own_project_through_the_engine(tmp_path: Path) -> None:
    engine = FakeEngine({"staging_bucket": "b"})
    data = {"cloud": "aws", "region": "us-east-1"}
    result = bootstrap(AWS, tmp_path, engine, QuietProgress(), account=lambda: "1", stack_data=data)
    assert engine.calls == [("check", ""), ("up", "dev")]
    project = engine.projects[0]
    assert project.project == "pcompile-bootstrap"
    assert project.backend_url.endswith("/.pcompile/bootstrap-state")
    assert (project.path / "Pulumi.yaml").is_file() and (project.path / "__main__.py").is_file()
    assert json.loads((project.path / "bootstrap.json").read_text())["names"]["registry"].startswith("1.dkr")
    assert result.outputs == {"staging_bucket": "b"}


def test_bootstrap_without_engine_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="pulumi.com/docs/install"):
        bootstrap(AWS, tmp_path, FakeEngine(available=False), QuietProgress(), account=lambda: "1")
    assert not (tmp_path / ".pcompile").exists()


def test_s3_store_skips_what_exists(aws_env: str) -> None:
    boto3.client("s3").create_bucket(Bucket="staging")
    store = S3Store("staging")
    assert not store.exists("bundles/a.tar")
    assert store.put("bundles/a.tar", b"x") == "s3://staging/bundles/a.tar"
    assert store.exists("bundles/a.tar") and store.get("bundles/a.tar") == b"x"


def test_ssm_manifest_store_follows_the_pointer(aws_env: str) -> None:
    manifest = Manifest(
        "demo", "dev", "aws", "us-east-1", {"f": FunctionAddress("lambda", {"function_name": "f"})}
    )
    boto3.client("s3").create_bucket(Bucket="stage")
    boto3.client("s3").put_object(
        Bucket="stage", Key="pcompile/manifest.json", Body=manifest.dumps().encode()
    )
    boto3.client("ssm").put_parameter(
        Name="/pcompile/dev/demo/manifest", Value="s3://stage/pcompile/manifest.json", Type="String"
    )
    store = SsmManifestStore("dev")
    assert store.list() == ["demo"]
    assert store.read("demo") == manifest
    assert store.read("other") is None


def test_ecr_repository_is_created_once(aws_env: str) -> None:
    ref = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pcompile/demo:abc"
    ensure_ecr_repository(ref, "us-east-1")
    ensure_ecr_repository(ref, "us-east-1")
    repos = boto3.client("ecr").describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos if r["repositoryName"].startswith("pcompile/")] == [
        "pcompile/demo"
    ]


def test_logs_come_from_the_functions_cloudwatch_group(aws_env: str, tmp_path: Path) -> None:
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/demo-f")
    logs.create_log_stream(logGroupName="/aws/lambda/demo-f", logStreamName="s")
    import time

    now = int(time.time() * 1000)
    events = [{"timestamp": now - 2000, "message": "first\n"}, {"timestamp": now - 1000, "message": "second"}]
    logs.put_log_events(logGroupName="/aws/lambda/demo-f", logStreamName="s", logEvents=events)
    manifest = Manifest(
        "demo", "dev", "aws", "us-east-1", {"f": FunctionAddress("lambda", {"function_name": "demo-f"})}
    )
    assert fetch_logs(AWS, tmp_path, manifest, "f", "1h", 100) == ["first", "second"]
    with pytest.raises(UserError, match="use one of: f"):
        fetch_logs(AWS, tmp_path, manifest, "g", "1h", 100)


def test_local_logs_and_durations(tmp_path: Path) -> None:
    local = parse_stack({"cloud": "local"}, Path("local.yaml"))
    folder = tmp_path / ".pcompile/local/logs/demo"
    folder.mkdir(parents=True)
    (folder / "f.log").write_text("a\nb\nc\n")
    manifest = Manifest("demo", "local", "local", None, {"f": FunctionAddress("local")})
    assert fetch_logs(local, tmp_path, manifest, "f", "30m", 2) == ["b", "c"]
    assert parse_since("2h") == 7200
    with pytest.raises(UserError, match="30m"):
        parse_since("yesterday")


def test_cloud_logging_filter_names_the_service() -> None:
    text = cloud_logging_filter({"service": "demo-f"}, 0)
    assert 'resource.labels.service_name="demo-f"' in text and 'timestamp>="1970-01-01T00:00:00Z"' in text
