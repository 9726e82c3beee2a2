"""``secret`` and ``volume`` commands' cloud side, against moto server."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from pcompile.compiler.errors import UserError
from pcompile.compiler.stacks import parse_stack
from pcompile.providers.aws.secrets import AwsSecrets
from pcompile.providers.aws.volumes import S3Volume
from pcompile.providers.cloud_stores import volume_url

AWS = parse_stack({"cloud": "aws", "region": "us-east-1"}, Path("dev.yaml"))
GCP = parse_stack({"cloud": "gcp", "region": "us-central1", "project": "proj"}, Path("dev.yaml"))


def test_aws_secret_create_list_and_replace(aws_env: str) -> None:
    secrets = AwsSecrets("us-east-1")
    secrets.create("openai", {"OPENAI_API_KEY": "sk-1", "ORG": "o"})
    assert secrets.keys_by_name()["openai"] == ["OPENAI_API_KEY", "ORG"]
    with pytest.raises(UserError, match="--force"):
        secrets.create("openai", {"X": "1"})
    secrets.create("openai", {"X": "1"}, overwrite=True)
    assert secrets.keys_by_name()["openai"] == ["X"]
    value = boto3.client("secretsmanager").get_secret_value(SecretId="openai")["SecretString"]
    assert value == '{"X": "1"}'


def test_bucket_volume_put_ls_get(aws_env: str, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket="vol-weights")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "a.bin").write_bytes(b"aa")
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "b.bin").write_bytes(b"bbb")
    volume = S3Volume("s3://vol-weights")
    assert volume.put(tmp_path / "model", "/ckpt") == ["/ckpt/a.bin", "/ckpt/sub/b.bin"]
    assert volume.put(tmp_path / "model" / "a.bin", "/") == ["/a.bin"]
    assert [(e.path, e.size) for e in volume.ls("/ckpt")] == [("/ckpt/a.bin", 2), ("/ckpt/sub/b.bin", 3)]
    assert volume.get("/ckpt/sub/b.bin") == b"bbb"
    with pytest.raises(UserError, match="no file"):
        volume.get("/missing")


def test_volume_urls() -> None:
    explicit = parse_stack(
        {"cloud": "aws", "region": "us-east-1", "extra": {"volumes": {"w": "s3://b/p"}}}, Path("dev.yaml")
    )
    assert volume_url(explicit, "w", None) == "s3://b/p"
    assert volume_url(GCP, "weights", "demo").startswith("gs://demo-vol-weights-")
    with pytest.raises(UserError, match="--app"):
        volume_url(GCP, "weights", None)


def test_aws_volume_found_by_tags(aws_env: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="demo-vol-abc123")
    tags = {"pcompile-stack": "dev", "pcompile-volume": "weights", "pcompile-app": "demo"}
    s3.put_bucket_tagging(
        Bucket="demo-vol-abc123", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
    )
    assert volume_url(AWS, "weights", None) == "s3://demo-vol-abc123"
    with pytest.raises(UserError, match="0 buckets"):
        volume_url(AWS, "other", None)


def test_cli_handlers_on_an_aws_stack(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pcompile.cli import deploy as cli

    boto3.client("s3").create_bucket(Bucket="vol-data")
    settings = parse_stack(
        {"cloud": "aws", "region": "us-east-1", "extra": {"volumes": {"data": "s3://vol-data"}}},
        Path("dev.yaml"),
    )
    cli.stack_secret_create(settings, "hf", {"HF_TOKEN": "hf_x"}, force=False)
    cli.stack_secret_list(settings)
    (tmp_path / "a.txt").write_text("hello")
    cli.stack_volume_put(settings, "data", tmp_path / "a.txt", "/in/a.txt")
    cli.stack_volume_ls(settings, "data", "/")
    cli.stack_volume_get(settings, "data", "/in/a.txt", str(tmp_path / "back.txt"))
    out = capsys.readouterr().out
    assert "created secret 'hf' with keys ['HF_TOKEN']" in out
    assert "hf\tHF_TOKEN" in out and "hf_x" not in out
    assert "/in/a.txt\t5" in out
    assert (tmp_path / "back.txt").read_text() == "hello"


def test_secret_and_volume_commands_take_a_cloud_stack(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pcompile.cli.main import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "prod.yaml").write_text(
        "cloud: aws\nregion: us-east-1\nextra: {volumes: {models: 's3://vol-models'}}\n"
    )
    boto3.client("s3").create_bucket(Bucket="vol-models")
    (tmp_path / "w.bin").write_bytes(b"123")
    runner = CliRunner()
    steps = [
        ["secret", "create", "wandb", "WANDB_API_KEY=abc", "--stack", "prod"],
        ["secret", "list", "--stack", "prod"],
        ["volume", "put", "models", "w.bin", "/w.bin", "--stack", "prod"],
        ["volume", "ls", "models", "--stack", "prod"],
        ["volume", "get", "models", "/w.bin", "out.bin", "--stack", "prod"],
    ]
    outputs = []
    for argv in steps:
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output)
        outputs.append(result.output)
    assert "wandb\tWANDB_API_KEY" in outputs[1] and "abc" not in outputs[1]
    assert "/w.bin\t3" in outputs[3]
    assert (tmp_path / "out.bin").read_bytes() == b"123"
    assert not (tmp_path / ".pcompile" / "local" / "secrets").exists()
