"""Checks `make deploy` runs before it builds: what would make a deployed stack useless.

    python -m ops.preflight [--env dev]

- the environment sets ``OneMsgChannelId`` (not the samconfig.toml placeholder);
- the token and webhook-secret SSM parameters exist (else every webhook is answered 503 and
  no reply can be sent): ``make bootstrap-secrets`` creates them.

Only parameter metadata is read; no secret value is decrypted or printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ops.bootstrap_secrets import SECRET_PARAMETER, TOKEN_PARAMETER, parameter_exists
from ops.outputs import DeployEnv, OpsError, add_stack_arguments, aws_client, load_env, run

PLACEHOLDER = "REPLACE_WITH"


def problems(env: DeployEnv, ssm: Any) -> list[str]:
    found: list[str] = []
    channel = env.parameters.get("OneMsgChannelId", "")
    if not channel or PLACEHOLDER in channel:
        found.append(
            f"samconfig.toml [{env.name}.deploy.parameters]: set OneMsgChannelId=<your channel id>"
        )
    for key in (TOKEN_PARAMETER, SECRET_PARAMETER):
        name = env.parameter(key)
        if name and not parameter_exists(ssm, name):
            found.append(
                f"SSM parameter {name} ({key}) does not exist: "
                f"run make bootstrap-secrets ENV={env.name}"
            )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.preflight", description=__doc__)
    add_stack_arguments(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        env = load_env(args.env)
        found = problems(env, aws_client("ssm", args.region or env.region))
        if found:
            raise OpsError("not ready to deploy:\n  " + "\n  ".join(found))
        print(f"preflight ok: {env.stack_name} in {env.region or 'the default region'}")
        return 0

    return run(body)


if __name__ == "__main__":
    raise SystemExit(main())
