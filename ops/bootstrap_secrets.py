"""Create the two SSM SecureString parameters the stack reads: the 1MSG token and the
webhook secret.

    python -m ops.bootstrap_secrets [--env dev] [--force] [--only token|secret]

The names are the environment's ``OneMsgTokenParameter`` / ``WebhookSecretParameter`` in
samconfig.toml (else the template's defaults). The token is read from a hidden prompt, or from
standard input when it is not a terminal (``pass show 1msg | make bootstrap-secrets``): never
from the command line, where it would land in the shell history and the process list. The
webhook secret is generated (``secrets.token_urlsafe(32)``). An existing parameter is kept
unless ``--force``; ``--only token`` with ``--force`` rotates the token alone. Values are never
printed.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ops.outputs import OpsError, add_stack_arguments, aws_client, aws_error, load_env, run

# Template parameter keys (their values are SSM parameter names, not secrets).
TOKEN_PARAMETER = "OneMsgTokenParameter"  # noqa: S105
SECRET_PARAMETER = "WebhookSecretParameter"  # noqa: S105


def generate_webhook_secret() -> str:
    """43 URL-safe characters (256 bits): safe in a URL path, hard to guess."""
    return secrets.token_urlsafe(32)


def read_token(stdin: TextIO, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The token from a hidden prompt on a terminal, else the first line of standard input."""
    prompted = stdin.isatty()
    token = prompt("1MSG channel token (input hidden): ") if prompted else stdin.readline()
    token = token.strip()
    if not token:
        raise OpsError("no token given (type it at the prompt or pipe it on standard input)")
    return token


def parameter_exists(ssm: Any, name: str) -> bool:
    try:
        ssm.get_parameter(Name=name)  # no decryption: the value is not needed here
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return False
        raise aws_error(exc, f"reading SSM parameter {name}") from None
    except BotoCoreError as exc:
        raise aws_error(exc, f"reading SSM parameter {name}") from None
    return True


def put_secret(
    ssm: Any, name: str, value: str, description: str, *, overwrite: bool, kms_key_id: str | None
) -> int:
    request: dict[str, Any] = {
        "Name": name,
        "Value": value,
        "Type": "SecureString",
        "Description": description,
        "Overwrite": overwrite,
    }
    if kms_key_id:
        request["KeyId"] = kms_key_id
    try:
        response = ssm.put_parameter(**request)
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, f"writing SSM parameter {name}") from None
    return int(response.get("Version", 1))


def bootstrap(
    ssm: Any,
    names: dict[str, str],
    *,
    force: bool = False,
    only: str | None = None,
    kms_key_id: str | None = None,
    token_source: Callable[[], str],
    out: Callable[[str], None] = print,
) -> dict[str, str]:
    """Create (or with ``force`` overwrite) the parameters; returns what happened per name."""
    wanted = {
        "token": (names[TOKEN_PARAMETER], "1MSG channel token (session-reply)"),
        "secret": (names[SECRET_PARAMETER], "1MSG webhook path secret (session-reply)"),
    }
    done: dict[str, str] = {}
    for kind, (name, description) in wanted.items():
        if only and kind != only:
            continue
        exists = parameter_exists(ssm, name)
        if exists and not force:
            out(f"kept     {name} (exists; --force to overwrite)")
            done[name] = "kept"
            continue
        value = token_source() if kind == "token" else generate_webhook_secret()
        version = put_secret(ssm, name, value, description, overwrite=exists, kms_key_id=kms_key_id)
        what = "replaced" if exists else "created"
        out(f"{what:<8} {name} (SecureString, version {version})")
        done[name] = what
    if done.get(names[SECRET_PARAMETER]) == "replaced":
        out(
            "The webhook secret changed: run make connect-1msg now so 1MSG posts to the new URL "
            "(the old one is answered 401 once the functions' 5-minute cache expires)."
        )
    return done


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.bootstrap_secrets",
        description="Create the 1MSG token and webhook-secret SSM SecureString parameters.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--token-param", help="SSM name of the token (default: the env's)")
    parser.add_argument("--secret-param", help="SSM name of the webhook secret")
    parser.add_argument("--force", action="store_true", help="overwrite existing parameters")
    parser.add_argument(
        "--only", choices=("token", "secret"), help="just this one (e.g. to rotate the token)"
    )
    parser.add_argument("--kms-key-id", help="a customer KMS key (default: aws/ssm)")
    parser.add_argument("--endpoint-url", help="SSM endpoint (the local stack's moto)")
    return parser


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        names = {TOKEN_PARAMETER: args.token_param, SECRET_PARAMETER: args.secret_param}
        region = args.region
        if not all(names.values()) or not region:
            env = load_env(args.env)
            region = region or env.region
            for key in names:
                names[key] = names[key] or env.parameter(key)
        print(f"SSM parameters in {region or 'the default region'}:")
        ssm = aws_client("ssm", region, args.endpoint_url)
        token_stream = stdin or sys.stdin
        bootstrap(
            ssm,
            {k: str(v) for k, v in names.items()},
            force=args.force,
            only=args.only,
            kms_key_id=args.kms_key_id,
            token_source=lambda: read_token(token_stream),
        )
        return 0

    return run(body)


if __name__ == "__main__":
    raise SystemExit(main())
