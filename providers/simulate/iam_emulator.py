"""moto's server with IAM enforced as closely as moto can, for the simulate tier.

``python -m pcompile.providers.simulate.iam_emulator -H 127.0.0.1 -p 5000`` runs
``moto.server`` after fixing the gaps in moto 5's policy evaluation that would make a
correct least-privilege policy fail (docs/simulate.md, "IAM enforcement"):

* Action and resource patterns are IAM globs (actions case-insensitive) (``*`` and ``?``, everything else literal). moto turns
  them into regular expressions as they are, so ``secret:name-??????`` (the ARN of a
  secret named by ``Secret.from_name``) is a broken pattern and the request fails with 500.
* Secrets Manager requests are checked against the secret's ARN (moto checks them
  against ``*``, so a statement naming the secret never matches), and IAM requests naming
  an instance profile against the profile (moto takes the role they also name).
* DynamoDB requests are checked against the ARN of each table they name (``TableName``,
  every table of ``RequestItems``/``TransactItems``, or ``ResourceArn``), as IAM does; moto
  checks them against ``*``. ``ListTables`` names none and is checked by action only.
* Services for which moto determines no resource at all (Lambda, Batch, ECR, CloudWatch
  Logs, SSM, EC2, EventBridge Scheduler ...) are checked by action only: a
  statement whose action matches allows the request whatever resources it names.
  moto would otherwise deny every statement that names a resource.
* A trust policy's ``{"Service": "lambda.amazonaws.com"}`` principal is played by the
  IAM user of that name: the simulated compute assumes a function's role as that user
  (moto does not evaluate service principals).
* Request signatures are not recomputed: moto's recomputation disagrees with botocore's
  for several REST calls (Lambda ``ListFunctions``, S3 ``ListObjectsV2`` ...). The caller
  is still identified by its access key, and an assumed role's session token must match.

moto itself switches enforcement on after ``INITIAL_NO_AUTH_ACTION_COUNT`` requests, or
when ``POST /moto-api/reset-auth`` is sent ``0``: the setup (users, keys, their policies)
comes first. ``--deploy-policy FILE [--deploy-policy FILE2] --identities OUT`` does that setup (:func:`set_up`) and
writes the keys to ``OUT``. With ``PCOMPILE_IAM_AUDIT_LOG=FILE`` every authorization decision is
appended to ``FILE`` as a JSON line (principal, action, resource, allowed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

AUDIT_LOG = "PCOMPILE_IAM_AUDIT_LOG"
# moto's action prefix (the request's signing name) -> IAM's service prefix, where they differ
ACTION_PREFIXES = {"monitoring": "cloudwatch", "tagging": "tag"}
# moto names actions by API operation; where IAM authorizes an operation as another action
# (https://docs.aws.amazon.com/service-authorization/latest/reference/), IAM's name
ACTION_NAMES = {"cloudfront:createdistributionwithtags": "cloudfront:CreateDistribution"}


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run, ``?`` one character, the rest literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch("".join(parts), value, flags=flags) is not None


def _patch_matching() -> None:
    from moto.iam.access_control import IAMPolicyStatement

    def _check_element_matches(self: Any, statement_element: Any, value: str) -> bool:
        element = str(statement_element)
        patterns = self._statement[element]
        patterns = patterns if isinstance(patterns, list) else [patterns]
        if element in ("Resource", "NotResource") and value == "*":
            return True  # moto knows no resource for this request: enforce the action only
        # action names are case-insensitive in IAM (moto spells Batch's in lower case), and
        # moto names actions by signing name ("tagging:") where IAM has its own prefix ("tag:")
        folded = element in ("Action", "NotAction")
        if folded:
            prefix, _, name = value.partition(":")
            value = f"{ACTION_PREFIXES.get(prefix, prefix)}:{name}"
            value = ACTION_NAMES.get(value.lower(), value)
        return any(glob_match(str(p), value, ignore_case=folded) for p in patterns)

    IAMPolicyStatement._check_element_matches = _check_element_matches  # type: ignore[method-assign]

    original_principal = IAMPolicyStatement._check_principal

    def _check_principal(self: Any, principal: str) -> bool:
        expected = self._statement.get("Principal")
        if isinstance(expected, dict) and "Service" in expected:
            services = expected["Service"]
            services = services if isinstance(services, list) else [services]
            return any(principal.endswith(f":user/{service}") for service in services)
        return bool(original_principal(self, principal))

    IAMPolicyStatement._check_principal = _check_principal  # type: ignore[method-assign]


def _patch_secrets() -> None:
    from moto.secretsmanager.responses import SecretsManagerResponse

    def _determine_resource(self: Any) -> str:
        secret_id = self._get_param("SecretId")
        if secret_id and self.backend._is_valid_identifier(secret_id):
            return str(self.backend.secrets[secret_id].arn)
        return "*"

    SecretsManagerResponse._determine_resource = _determine_resource  # type: ignore[attr-defined]


def _patch_instance_profiles() -> None:
    from moto.iam.responses import IamResponse

    role_resource = IamResponse._determine_resource

    def _determine_resource(self: Any) -> str:
        profile = self.data.get("InstanceProfileName")
        if profile:  # AddRoleToInstanceProfile names a role too, but acts on the profile
            return f"arn:aws:iam::{self.current_account}:instance-profile/{profile[0]}"
        return str(role_resource(self))

    IamResponse._determine_resource = _determine_resource  # type: ignore[method-assign]


def dynamodb_tables(body: dict[str, Any]) -> list[str]:
    """Names of the tables a DynamoDB request acts on, sorted (none for ``ListTables``)."""
    names = {str(body["TableName"])} if body.get("TableName") else set()
    names |= {str(t) for t in body.get("RequestItems") or {}}
    for item in body.get("TransactItems") or []:
        names |= {str(op["TableName"]) for op in item.values() if isinstance(op, dict) and "TableName" in op}
    return sorted(names)


def _patch_dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.utilities.utils import get_partition

    authorize = DynamoHandler._authenticate_and_authorize_normal_action

    def _authorize_tables(self: Any, resource: str = "*") -> None:
        body = self.body if isinstance(self.body, dict) else {}
        if body.get("ResourceArn"):  # TagResource, ListTagsOfResource
            arns = [str(body["ResourceArn"])]
        else:
            prefix = f"arn:{get_partition(self.region)}:dynamodb:{self.region}:{self.current_account}:table/"
            arns = [prefix + name for name in dynamodb_tables(body)] or ["*"]
        for arn in arns:  # a batch over two tables needs the action on both
            authorize(self, arn)

    DynamoHandler._authenticate_and_authorize_normal_action = _authorize_tables  # type: ignore[method-assign]


def _patch_signature_and_audit() -> None:
    from moto.iam.access_control import IAMRequestBase

    IAMRequestBase.check_signature = lambda self: None  # type: ignore[method-assign]
    path = os.environ.get(AUDIT_LOG)
    if not path:
        return
    original = IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        allowed = False
        try:
            original(self, resource)
            allowed = True
        finally:
            line = {"principal": self._access_key.arn, "action": self._action}
            with open(path, "a") as fh:
                fh.write(json.dumps({**line, "resource": resource, "allowed": allowed}) + "\n")

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


def patch() -> None:
    """Apply the fixes listed in the module docstring to this process's moto."""
    _patch_matching()
    _patch_secrets()
    _patch_instance_profiles()
    _patch_dynamodb()
    _patch_signature_and_audit()


SERVICE_PRINCIPALS = ("ecs-tasks.amazonaws.com", "lambda.amazonaws.com", "scheduler.amazonaws.com")
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DEPLOYER = "pcompile-deployer"
ADMIN = "pcompile-admin"


def _user(iam: Any, name: str, *policies: dict[str, Any]) -> dict[str, str]:
    iam.create_user(UserName=name)
    for index, policy in enumerate(policies):  # one inline policy each, as a role would attach them
        suffix = f"-{index + 1}" if index else ""
        iam.put_user_policy(
            UserName=name, PolicyName=f"{name}-policy{suffix}", PolicyDocument=json.dumps(policy)
        )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def set_up(url: str, *deploy_policies: dict[str, Any]) -> dict[str, Any]:
    """Create the identities of the simulate tier, then switch enforcement on.

    ``deployer`` holds exactly ``deploy_policies`` (the core policy, and the web services'
    when given); ``admin`` may do anything (to inspect the
    emulator, never handed to pcompile); ``services`` are the users that play the AWS
    services (:mod:`.compute_iam`). Returns their keys.
    """
    import urllib.request

    import boto3

    setup = boto3.session.Session(aws_access_key_id="setup", aws_secret_access_key="setup")
    iam = setup.client("iam", region_name="us-east-1", endpoint_url=url)
    made = {
        "admin": _user(iam, ADMIN, ALLOW_ALL),
        "deployer": _user(iam, DEPLOYER, *deploy_policies),
        "services": {name: _user(iam, name, ALLOW_ALL) for name in SERVICE_PRINCIPALS},
    }
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request, timeout=10)  # from here on every request is authorized
    return made


def _write_private(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # readers never see half a file


def main(argv: list[str] | None = None) -> None:
    """Serve moto with :func:`patch` applied. With ``--deploy-policy`` and ``--identities``,
    create the identities (:func:`set_up`), write their keys to ``--identities`` (mode 0600)
    and enforce IAM from then on; without them, serve as ``moto.server`` does."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.providers.simulate.iam_emulator")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument(
        "--deploy-policy",
        type=Path,
        action="append",
        help="a policy the deployer holds (JSON file; repeatable)",
    )
    parser.add_argument("--identities", type=Path, help="where to write the users' keys")
    args = parser.parse_args(argv)
    patch()
    if args.deploy_policy is None or args.identities is None:
        from moto.server import main as moto_main

        moto_main(["-H", args.host, "-p", str(args.port)])
        return
    from moto.server import ThreadedMotoServer

    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # the server's threads inherit the mask
    server = ThreadedMotoServer(ip_address=args.host, port=args.port)
    server.start()
    made = set_up(f"http://{args.host}:{args.port}", *(json.loads(p.read_text()) for p in args.deploy_policy))
    _write_private(args.identities, made)
    signal.sigwait(stop)
    os._exit(0)  # the emulator keeps nothing worth a graceful stop; werkzeug's can hang


if __name__ == "__main__":
    main()
