"""Secret values from SSM SecureString parameters, cached per container for 5 minutes."""

from __future__ import annotations

from session_reply.errors import ConfigurationError

CACHE_SECONDS = 300


def get_secret(parameter_name: str) -> str:
    """The decrypted value, or ConfigurationError: a missing secret must fail closed."""
    if not parameter_name:
        raise ConfigurationError("secret parameter name is not configured")
    from aws_lambda_powertools.utilities import parameters  # imported on first use

    try:
        value = parameters.get_parameter(parameter_name, decrypt=True, max_age=CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as exc:
        raise ConfigurationError(f"secret parameter {parameter_name} is unreadable") from exc
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"secret parameter {parameter_name} is empty")
    return value.strip()
