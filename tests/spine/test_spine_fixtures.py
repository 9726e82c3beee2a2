"""Every ``tests/fixtures/spine_*.py`` program compiles, and its IR holds the values it was written with.

Each fixture is a realistic Modal program; its checker asserts specific IR values
(GPU types and counts, schedules, web kinds, mounts, secrets, image steps ...).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
from spine_kit import FIXTURES, compile_fixture

from pcompile.compiler import ir


def only_app(program: ir.Program) -> ir.AppSpec:
    assert len(program.apps) == 1, [a.name for a in program.apps]
    return program.apps[0]


def image_of(app: ir.AppSpec, fn: ir.FunctionSpec) -> ir.ImageSpec:
    return next(i for i in app.images if i.id == fn.image)


def step_kinds(image: ir.ImageSpec) -> list[str]:
    return [s.kind for s in image.steps]


def check_acceptance(p: ir.Program) -> None:
    app = only_app(p)
    assert app.name == "spine-acceptance"
    assert app.function("pretrain").gpu == ir.GpuSpec("H100", 8)
    assert app.function("embed").gpu == ir.GpuSpec("T4", 1)
    assert app.function("flexible").gpu == ir.GpuSpec(
        "H100", 1, (ir.GpuRequest("A100-80GB", 1), ir.GpuRequest("ANY", 1))
    )
    assert app.function("weekday_report").schedule == ir.CronSchedule("30 4 * * 1-5", "UTC")
    assert app.function("refresh_cache").schedule == ir.PeriodSchedule(6 * 3600 + 30 * 60)
    assert app.function("predict").web == ir.WebSpec(kind="fastapi", method="POST")
    assert app.function("Model.generate").cls == ir.ClassSpec(
        "Model", "Model", parameters=("model_id",), enter=("load",)
    )
    assert app.function("finetune").secrets == ("huggingface-secret",)
    assert app.secrets[0].required_keys == ("HF_TOKEN",)
    assert app.volumes == (ir.VolumeSpec("acceptance-models", "volume", True),)


def check_llm_inference(p: ir.Program) -> None:
    app = only_app(p)
    fns = {f.name: f for f in app.functions}
    assert sorted(fns) == ["Inference.generate", "Inference.stream"]
    gen = fns["Inference.generate"]
    assert gen.gpu == ir.GpuSpec("H100", 1, (ir.GpuRequest("A100-80GB", 1),))
    assert gen.concurrency == ir.ConcurrencySpec(32, 24)
    assert gen.timeout == 1200 and gen.min_containers == 1 and gen.max_containers == 4
    assert gen.volumes == {"/root/.cache/huggingface": "huggingface-cache", "/root/.cache/vllm": "vllm-cache"}
    assert gen.cls is not None
    assert gen.cls.parameters == ("model_name", "tensor_parallel")
    assert gen.cls.enter_snap == ("download",) and gen.cls.enter == ("start_engine",)
    assert gen.cls.exit == ("shutdown",)
    assert fns["Inference.stream"].is_generator and not gen.is_generator
    image = image_of(app, gen)
    assert image.base.kind == "from_registry"
    assert image.base.args["tag"] == "nvidia/cuda:12.4.1-devel-ubuntu22.04"
    assert image.python_version == "3.12"
    assert step_kinds(image) == ["entrypoint", "uv_pip_install", "env"]


def check_training(p: ir.Program) -> None:
    app = only_app(p)
    train = app.function("train")
    assert train.gpu == ir.GpuSpec("A100-40GB", 4)
    assert train.retries == ir.RetriesSpec(10, 1.5, 0.0, 30.0)
    assert train.timeout == 86400 and train.ephemeral_disk == 512 * 1024
    assert train.cpu == (8.0, 16.0) and train.memory == (32768, 65536)
    assert train.nonpreemptible
    giant = app.function("giant")
    assert giant.gpu == ir.GpuSpec("B200", 8)
    assert (giant.cloud, giant.region, giant.single_use_containers) == ("aws", "us-east-1", True)
    pinned = app.function("pinned")
    assert pinned.gpu == ir.GpuSpec("H100!", 1)
    # Modal's rule: retries=n is Retries(max_retries=n, initial_delay=1.0, backoff_coefficient=1.0).
    assert pinned.retries == ir.RetriesSpec(2, 1.0, 1.0, 60.0)
    assert [e.name for e in app.entrypoints] == ["main"]


def check_web_fastapi(p: ir.Program) -> None:
    app = only_app(p)
    assert app.function("hello").web == ir.WebSpec(kind="fastapi", method="GET")
    assert app.function("submit").web == ir.WebSpec(
        kind="fastapi", method="POST", label="submit-job", docs=True
    )
    assert app.function("update").web == ir.WebSpec(
        kind="fastapi", method="PUT", requires_auth=True, custom_domains=("api.example.com",)
    )
    health = app.function("health")
    assert health.is_async and health.concurrency == ir.ConcurrencySpec(100, None)
    assert health.min_containers == 1
    assert app.function("submit").secrets == ("api-tokens",)


def check_web_apps(p: ir.Program) -> None:
    app = only_app(p)
    asgi = app.function("fastapi_app")
    assert asgi.web == ir.WebSpec(kind="asgi", label="dashboard")
    assert asgi.concurrency == ir.ConcurrencySpec(20, None)
    assert app.function("flask_app").web == ir.WebSpec(kind="wsgi")
    static = app.function("static_files")
    assert static.web == ir.WebSpec(kind="web_server", port=8080, startup_timeout=60.0)
    assert static.timeout == 600
    server = app.function("Vllm")
    assert server.kind == "server" and server.min_containers == 1
    assert server.web is not None
    assert (server.web.kind, server.web.port, server.web.requires_auth) == ("server", 8000, False)
    assert server.cls is not None and server.cls.enter == ("start",) and server.cls.exit == ("stop",)


def check_cls_lifecycle(p: ir.Program) -> None:
    app = only_app(p)
    names = sorted(f.name for f in app.functions)
    # Plain helpers and hooks are not remote methods.
    assert names == ["Embedder.embed", "Embedder.embed_async", "Embedder.web"]
    embed = app.function("Embedder.embed")
    assert embed.kind == "method" and embed.module == "spine_cls_lifecycle"
    assert embed.qualname == "Embedder.embed"
    assert embed.gpu == ir.GpuSpec("L40S", 1) and embed.scaledown_window == 300
    assert embed.concurrency == ir.ConcurrencySpec(8, None)
    assert embed.cls == ir.ClassSpec(
        "Embedder",
        "Embedder",
        parameters=("model_id", "normalize", "revision"),
        enter=("move_to_gpu",),
        enter_snap=("load_to_cpu",),
        exit=("cleanup",),
    )
    assert app.function("Embedder.embed_async").is_async
    assert app.function("Embedder.web").web == ir.WebSpec(kind="fastapi", method="POST")


def check_schedules(p: ir.Program) -> None:
    app = only_app(p)
    assert app.function("morning_digest").schedule == ir.CronSchedule("0 9 * * MON-FRI", "America/New_York")
    assert app.function("quarter_hourly").schedule == ir.CronSchedule("*/15 * * * *")
    assert app.function("daily_macro").schedule == ir.CronSchedule("@daily")
    assert app.function("daily").schedule == ir.PeriodSchedule(86400.0)
    assert app.function("fast_poll").schedule == ir.PeriodSchedule(30.5)
    assert app.function("weekly_and_a_half_day").schedule == ir.PeriodSchedule(7 * 86400 + 12 * 3600)


def check_storage(p: ir.Program) -> None:
    app = only_app(p)
    process = app.function("process")
    assert process.volumes == {"/results": "results", "/shared": "shared-data"}
    assert process.cloud_bucket_mounts == {
        "/data": ir.CloudBucketMountSpec(
            "my-datasets",
            "https://abc.r2.cloudflarestorage.com",
            "imagenet/",
            "r2-credentials",
            None,
            True,
        )
    }
    mirror = app.function("mirror")
    assert mirror.network_file_systems == {"/scratch": "scratch"}
    assert mirror.cloud_bucket_mounts["/public"].requester_pays
    assert mirror.cloud_bucket_mounts["/public"].force_path_style
    assert app.function("uses_only_app_volume").volumes == {"/shared": "shared-data"}
    assert {v.name: (v.kind, v.create_if_missing) for v in app.volumes} == {
        "results": ("volume", False),
        "scratch": ("network_file_system", True),
        "shared-data": ("volume", True),
    }
    r2 = next(s for s in app.secrets if s.name == "r2-credentials")
    assert r2.required_keys == ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def check_secrets(p: ir.Program) -> None:
    app = only_app(p)
    by_name = {s.name: s for s in app.secrets}
    chat = app.function("chat")
    assert "openai-secret" in chat.secrets and "app-wide" in chat.secrets
    inline = [by_name[n] for n in chat.secrets if by_name[n].kind == "dict"]
    assert [s.keys for s in inline] == [("LOG_LEVEL", "MODE")]
    flagged = [by_name[n] for n in app.function("flagged").secrets]
    assert sorted(s.kind for s in flagged) == ["dict", "named"]
    assert [s.keys for s in flagged if s.kind == "dict"] == [("FEATURE_FLAG",)]
    files = {by_name[n].kind: by_name[n] for n in app.function("from_files").secrets}
    assert files["dotenv"].keys == ("DOTENV_KEY", "OTHER_KEY")
    assert files["dotenv"].path == "spine_secrets.env"
    assert files["local_environ"].keys == ("SPINE_LOCAL_TOKEN",)
    assert by_name["openai-secret"].required_keys == ("OPENAI_API_KEY",)
    # Values never reach the IR.
    text = ir.dumps(p)
    for value in ("production", "dotenv-value-must-not-leak", "not-a-real-token", '"on"'):
        assert value not in text


def check_dict_queue(p: ir.Program) -> None:
    app = only_app(p)
    assert app.queues == (ir.StoreSpec("spine-jobs", True),)
    assert app.dicts == (ir.StoreSpec("spine-existing", False), ir.StoreSpec("spine-results", True))
    assert app.function("consume").max_containers == 10


def check_image_chain(p: ir.Program) -> None:
    app = only_app(p)
    base = image_of(app, app.function("uses_base"))
    assert app.function("also_base").image == base.id
    assert base.base == ir.ImageStep("debian_slim", {"python_version": "3.12"})
    assert step_kinds(base) == [
        "apt_install",
        "pip_install",
        "uv_pip_install",
        "pip_install_from_requirements",
        "run_commands",
        "dockerfile_commands",
        "env",
        "workdir",
        "entrypoint",
        "cmd",
        "run_function",
        "add_local_file",
        "add_local_dir",
        "add_local_python_source",
    ]
    steps = {s.kind: s.args for s in base.steps}
    assert steps["apt_install"]["packages"] == ["git", "curl", "libgl1", "ffmpeg"]
    assert steps["pip_install"]["pre"] is True
    assert steps["run_commands"]["gpu"] == "T4"
    assert steps["env"]["vars"] == {"HF_HOME": "/cache", "PYTHONUNBUFFERED": "1"}
    assert steps["run_function"]["qualname"] == "download_weights"
    assert steps["run_function"]["kwargs"] == {"model": "small"}
    assert steps["run_function"]["timeout"] == 1200
    # Local paths are relative to the project root (the fixtures folder).
    assert steps["add_local_dir"]["local_path"] == "spine_assets"
    assert steps["add_local_file"]["local_path"] == "spine_assets/greeting.txt"
    assert steps["pip_install_from_requirements"]["requirements_txt"] == "spine_assets/requirements.txt"
    assert steps["add_local_python_source"]["modules"] == ["spine_helpers"]
    mamba = image_of(app, app.function("uses_mamba"))
    assert mamba.base.kind == "micromamba" and step_kinds(mamba) == ["micromamba_install"]
    kinds = {image_of(app, app.function(n)).base.kind for n in ("uses_registry", "uses_ecr", "uses_gar")}
    assert kinds == {"from_registry", "from_aws_ecr", "from_gcp_artifact_registry"}
    docker = image_of(app, app.function("uses_dockerfile"))
    assert docker.base.kind == "from_dockerfile"
    assert (docker.base.args["path"], docker.base.args["context_dir"]) == (
        "spine_assets/Dockerfile",
        "spine_assets",
    )
    assert step_kinds(docker) == [
        "pip_install_from_pyproject",
        "poetry_install_from_file",
        "uv_sync",
        "shell",
        "env",
    ]
    docker_steps = {s.kind: s.args for s in docker.steps}
    assert docker_steps["pip_install_from_pyproject"]["pyproject_toml"] == "spine_assets/pyproject.toml"
    assert docker_steps["pip_install_from_pyproject"]["optional_dependencies"] == ["dev"]
    assert docker_steps["uv_sync"]["uv_project_dir"] == "spine_assets"
    assert docker_steps["env"]["vars"] == {"PIPED": "yes"}
    assert image_of(app, app.function("uses_scratch")).base.kind == "from_scratch"
    assert len(app.images) == 7


def check_helpers(p: ir.Program) -> None:
    app = only_app(p)
    assert app.name == "spine-helpers"
    assert app.function("push_metrics").schedule == ir.PeriodSchedule(300.0)


def check_include(p: ir.Program) -> None:
    names = [a.name for a in p.apps]
    # The included app is a module-level name too, so it compiles as its own app as well.
    assert "spine-include" in names
    app = next(a for a in p.apps if a.name == "spine-include")
    assert sorted(f.name for f in app.functions) == ["main_job", "push_metrics", "shared_helper"]
    helper = app.function("shared_helper")
    assert helper.module == "spine_helpers" and helper.source.file == "spine_helpers.py"


def check_multi_app(p: ir.Program) -> None:
    apps = {a.name: a for a in p.apps}
    assert sorted(apps) == ["spine-backend", "spine-frontend", "spine_multi_app"]
    assert [f.name for f in apps["spine-frontend"].functions] == ["index"]
    assert [f.name for f in apps["spine-backend"].functions] == ["infer", "warm"]
    assert apps["spine-backend"].tags == {"team": "ml"}
    assert apps["spine-backend"].function("infer").gpu == ir.GpuSpec("T4", 1)
    assert [f.name for f in apps["spine_multi_app"].functions] == ["nameless"]


def check_entrypoint_args(p: ir.Program) -> None:
    app = only_app(p)
    entries = {e.name: e for e in app.entrypoints}
    assert sorted(entries) == ["main", "other"]
    params = {q.name: q for q in entries["main"].params}
    assert [q.name for q in entries["main"].params] == [
        "count",
        "ratio",
        "verbose",
        "name",
        "limit",
        "mode",
        "since",
        "raw",
    ]
    assert (params["count"].type, params["count"].required) == ("int", True)
    assert (params["ratio"].type, params["ratio"].default) == ("float", 0.5)
    assert (params["verbose"].type, params["verbose"].default) == ("bool", False)
    assert (params["name"].type, params["name"].default) == ("str", "world")
    assert (params["limit"].type, params["limit"].required) == ("int", False)
    assert (params["mode"].type, params["mode"].choices) == ("literal", ("fast", "slow"))
    assert params["since"].type == "datetime"
    assert (params["raw"].type, params["raw"].required) == ("any", False)
    other = entries["other"]
    assert other.is_async and other.qualname == "second"
    assert (other.params[0].type, other.params[0].required) == ("int", False)


def check_old_spellings(p: ir.Program) -> None:
    app = only_app(p)
    legacy = app.function("legacy")
    assert (legacy.min_containers, legacy.max_containers, legacy.scaledown_window) == (2, 5, 90)
    assert legacy.concurrency == ir.ConcurrencySpec(10, None)
    web = app.function("legacy_web")
    assert web.web == ir.WebSpec(kind="fastapi", method="POST")
    assert web.network_file_systems == {"/cache": "old-cache"}
    assert app.function("Legacy.run").min_containers == 1


def check_batched_clustered(p: ir.Program) -> None:
    app = only_app(p)
    batch = app.function("batch_add")
    assert batch.batching == ir.BatchingSpec(8, 100) and batch.is_async
    dist = app.function("distributed_train")
    assert dist.clustered_size == 4 and dist.gpu == ir.GpuSpec("H100", 8)
    assert dist.experimental_options == {"enable_gpu_snapshot": True}
    assert app.function("Batcher.run").batching == ir.BatchingSpec(4, 10)


def check_generators_async(p: ir.Program) -> None:
    app = only_app(p)
    flags = {f.name: (f.is_generator, f.is_async) for f in app.functions}
    assert flags == {
        "count_up": (True, False),
        "declared_generator": (True, False),
        "fetch": (False, True),
        "stream_tokens": (True, True),
    }


def check_hello_world(p: ir.Program) -> None:
    app = only_app(p)
    f = app.function("f")
    assert (f.module, f.qualname, f.timeout, f.gpu, f.schedule, f.web) == (
        "spine_hello_world",
        "f",
        300,
        None,
        None,
        None,
    )
    assert f.retries == ir.RetriesSpec(0)
    assert image_of(app, f).base.kind == "debian_slim"
    assert [e.name for e in app.entrypoints] == ["main"]


def check_resources(p: ir.Program) -> None:
    app = only_app(p)
    tiny = app.function("tiny")
    assert (tiny.cpu, tiny.memory, tiny.timeout, tiny.startup_timeout) == (0.25, 256, 120, 900)
    assert (tiny.min_containers, tiny.max_containers, tiny.buffer_containers) == (0, 100, 2)
    assert tiny.scaledown_window == 60 and tiny.region == ("us-east", "us-west")
    assert tiny.include_source is True
    bursty = app.function("bursty")
    assert (bursty.cpu, bursty.memory, bursty.ephemeral_disk) == ((1.0, 4.0), (1024, 8192), 102400)
    assert bursty.region == "eu-west-1" and bursty.include_source is False
    assert app.function("one_shot").single_use_containers
    # Whole seconds, rounded up.
    assert app.function("fractional_timeout").timeout == 91


def check_cron_jobs(p: ir.Program) -> None:
    app = only_app(p)
    sync = app.function("sync")
    assert sync.schedule == ir.CronSchedule("0 */6 * * *", "Europe/Berlin")
    assert sync.secrets == ("gsheets", "postgres-secret")
    assert sync.volumes == {"/state": "etl-state"}
    assert sync.retries == ir.RetriesSpec(3, 1.0, 1.0, 60.0) and sync.timeout == 900


def check_imports(p: ir.Program) -> None:
    app = only_app(p)
    assert app.function("accept").web == ir.WebSpec(kind="fastapi", method="POST")
    assert app.function("accept").volumes == {"/vol": "imports-vol"}
    assert app.function("poll").web is None


def check_app_defaults(p: ir.Program) -> None:
    app = only_app(p)
    inherits, overrides = app.function("inherits"), app.function("overrides")
    assert inherits.secrets == ("app-secret",)
    assert overrides.secrets == ("app-secret", "fn-secret")
    assert inherits.volumes == {"/app-data": "app-default"}
    assert overrides.volumes == {"/app-data": "app-default", "/fn": "fn-only"}
    assert inherits.image != overrides.image
    assert image_of(app, overrides).steps[0].args["packages"] == ["httpx"]
    assert app.tags == {"owner": "spine"}


CHECKS: dict[str, Callable[[ir.Program], None]] = {
    "spine_acceptance.py": check_acceptance,
    "spine_app_defaults.py": check_app_defaults,
    "spine_batched_clustered.py": check_batched_clustered,
    "spine_cls_lifecycle.py": check_cls_lifecycle,
    "spine_cron_jobs.py": check_cron_jobs,
    "spine_dict_queue.py": check_dict_queue,
    "spine_entrypoint_args.py": check_entrypoint_args,
    "spine_generators_async.py": check_generators_async,
    "spine_gpu_llm_inference.py": check_llm_inference,
    "spine_gpu_training.py": check_training,
    "spine_hello_world.py": check_hello_world,
    "spine_helpers.py": check_helpers,
    "spine_image_chain.py": check_image_chain,
    "spine_imports.py": check_imports,
    "spine_include.py": check_include,
    "spine_multi_app.py": check_multi_app,
    "spine_old_spellings.py": check_old_spellings,
    "spine_resources.py": check_resources,
    "spine_schedules.py": check_schedules,
    "spine_secrets.py": check_secrets,
    "spine_storage.py": check_storage,
    "spine_web_apps.py": check_web_apps,
    "spine_web_fastapi.py": check_web_fastapi,
}


def test_every_spine_fixture_has_a_checker() -> None:
    assert sorted(p.name for p in FIXTURES.glob("spine_*.py")) == sorted(CHECKS)
    assert len(CHECKS) >= 20


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_fixture_compiles_to_expected_ir(name: str) -> None:
    # Recorded, not shown: the old-spellings fixture's warnings are asserted in their own test.
    with warnings.catch_warnings(record=True):
        program = compile_fixture(name)
    assert ir.loads(ir.dumps(program)) == program
    CHECKS[name](program)


OLD_SPELLINGS = [
    ("modal.Stub was renamed", "modal.App"),
    ("NetworkFileSystem.persisted", "NetworkFileSystem.from_name(name, create_if_missing=True)"),
    ("keep_warm", "min_containers"),
    ("concurrency_limit", "max_containers"),
    ("container_idle_timeout", "scaledown_window"),
    ("allow_concurrent_inputs", "@modal.concurrent(max_inputs=...)"),
    ("web_endpoint", "@modal.fastapi_endpoint"),
]


def test_old_spellings_warn_with_the_new_spelling_at_the_users_line() -> None:
    with pytest.warns(DeprecationWarning) as record:
        compile_fixture("spine_old_spellings.py")
    messages = [(str(w.message), w.filename) for w in record if issubclass(w.category, DeprecationWarning)]
    for old, new in OLD_SPELLINGS:
        hits = [m for m in messages if old in m[0]]
        assert hits, f"no DeprecationWarning mentions {old!r}: {messages}"
        assert all(new in text for text, _ in hits), hits
        # The warning points at the user's program, not at pcompile.
        assert all(filename.endswith("spine_old_spellings.py") for _, filename in hits), hits
