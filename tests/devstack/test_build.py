"""What `sam build` produces, checked the way CI can: without Docker.

`sam build` builds a python3.12 layer with pip when a python3.12 interpreter is on PATH (pyenv's
is used when PATH has none). Its only network use is pip fetching the layer's locked wheels from
the package registry, as `make setup` does. Skipped, with the reason, when there is no python3.12
or no SAM CLI.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from devstack.template import Template

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
LAYER = "CommonLayer"
RUNTIME_PACKAGES = ("httpx", "aws_lambda_powertools", "phonenumbers", "fasttext", "rapidfuzz")
# Never in the deployed package: the Lambda runtime has boto3; the rest is for development.
DEV_ONLY = (
    "boto3",
    "botocore",
    "s3transfer",
    "moto",
    "pytest",
    "_pytest",
    "respx",
    "hypothesis",
    "devstack",
    "tests",
    "ops",
    "mypy",
    "ruff",
)
BUILD_TIMEOUT = 600


def python312() -> str | None:
    """A python3.12 that really runs (a pyenv shim for an unselected version does not)."""
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = [
        shutil.which("python3.12"),
        *sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12")),
    ]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            done = subprocess.run(  # noqa: S603 - a found interpreter, fixed argv, no shell
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    interpreter = python312()
    if interpreter is None:
        pytest.skip("sam build needs python3.12 (not on PATH nor in pyenv): pyenv install 3.12")
    if not SAM.exists():
        pytest.skip(f"no SAM CLI at {SAM.relative_to(ROOT)}: run make setup")
    out = tmp_path_factory.mktemp("sam-build")
    env = {
        **os.environ,
        "PATH": f"{Path(interpreter).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - the project's SAM CLI, fixed argv, no shell
        [
            str(SAM),
            "build",
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(out / "build"),
            "--cache-dir",
            str(out / "cache"),
            "--parallel",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    print(f"sam build took {time.monotonic() - started:.1f} s")
    return out / "build"


def _top_level(layer_python: Path) -> set[str]:
    """Importable top-level names in the layer: packages, modules, extension modules."""
    names = set()
    for entry in layer_python.iterdir():
        if entry.name.endswith((".dist-info", ".data")) or entry.name == "__pycache__":
            continue
        names.add(entry.name.split(".")[0] if entry.is_file() else entry.name)
    return names


def test_layer_holds_the_package_and_its_runtime_dependencies_when_built(build_dir: Path) -> None:
    python = build_dir / LAYER / "python"
    assert (python / "session_reply" / "__init__.py").is_file()
    top = _top_level(python)
    missing = [name for name in RUNTIME_PACKAGES if name not in top]
    assert not missing, f"the layer lacks {missing}"


def test_layer_holds_every_source_file_of_the_package_when_built(build_dir: Path) -> None:
    # Data files too (e.g. the topic rules' JSON): a file missing here is missing on Lambda.
    source = ROOT / "layers" / "common" / "session_reply"
    built = build_dir / LAYER / "python" / "session_reply"

    def files(folder: Path) -> set[str]:
        return {
            str(p.relative_to(folder))
            for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }

    assert files(source) - files(built) == set()


def test_layer_holds_no_development_package_when_built(build_dir: Path) -> None:
    present = sorted(set(DEV_ONLY) & _top_level(build_dir / LAYER / "python"))
    assert present == [], f"development-only packages in the layer: {present}"


def test_native_extensions_target_lambda_arm64_python312_when_built(build_dir: Path) -> None:
    # fasttext-predict and rapidfuzz are compiled; each extension must match Lambda's runtime.
    extensions = list((build_dir / LAYER / "python").rglob("*.so"))
    assert any("fasttext" in p.name for p in extensions)
    wrong = [p.name for p in extensions if not re.search(r"cpython-312-aarch64-linux", p.name)]
    assert wrong == [], f"extensions not built for python3.12 on arm64: {wrong}"


def test_each_function_artifact_holds_only_its_app_module_when_built(build_dir: Path) -> None:
    template = Template.load(ROOT)
    functions = template.functions()
    assert functions
    for fn in functions:
        artifact = build_dir / fn.logical_id
        contents = sorted(p.name for p in artifact.iterdir() if p.name != "__pycache__")
        assert contents == ["app.py"], f"{fn.logical_id}: {contents}"
        source = ROOT / fn.code_uri / "app.py"
        assert (artifact / "app.py").read_bytes() == source.read_bytes()


def test_dashboard_body_is_json_when_its_references_are_filled_in() -> None:
    # CloudFormation rejects a dashboard whose body is not JSON only at deploy time.
    template = Template.load(ROOT)
    for logical_id in template.of_type("AWS::CloudWatch::Dashboard"):
        body = template.properties(logical_id)["DashboardBody"]
        text = body["Fn::Sub"] if isinstance(body, dict) else body
        names = set(re.findall(r"\$\{([^}!]+)\}", text))
        unknown = {n for n in names if n.split(".")[0] not in template.resources}
        assert unknown <= {"AWS::Region", "AWS::StackName"}, unknown
        dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
        assert dashboard["widgets"], f"{logical_id} has no widget"
