"""Secret values from SSM SecureString parameters, cached per container for 5 minutes."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from session_reply.errors import ConfigurationError

CACHE_SECONDS = 300


@lru_cache(maxsize=1)
def ssm_provider() -> Any:
    """Powertools' SSM provider on a client of boto3's default session. A provider left to
    build its own client builds a second session first (credential chain, endpoint data):
    about 100 ms of every cold start that reads a secret."""
    import boto3  # imported on first use, like Powertools' parameters utility
    from aws_lambda_powertools.utilities import parameters
    from botocore.config import Config

    config = Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
    )
    return parameters.SSMProvider(boto3_client=boto3.client("ssm", config=config))


def get_secret(parameter_name: str) -> str:
    """The decrypted value, or ConfigurationError: a missing secret must fail closed."""
    if not parameter_name:
        raise ConfigurationError("secret parameter name is not configured")
    from aws_lambda_powertools.utilities import parameters

    try:
        value = ssm_provider().get(parameter_name, decrypt=True, max_age=CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as exc:
        raise ConfigurationError(f"secret parameter {parameter_name} is unreadable") from exc
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"secret parameter {parameter_name} is empty")
    return value.strip()
