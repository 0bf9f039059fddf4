"""Shared fixtures for the local-stack tests: the project's template.yaml, parsed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.template import Template

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def template(project_root: Path) -> Template:
    return Template.load(project_root)
