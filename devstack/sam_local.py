"""``make sam-local``: every sample event through real ``sam local invoke``, each outcome checked.

What it does, in order:

1. ``sam build`` (no Docker needed for the build: the runtime's python3.12 is put on PATH).
2. On an x86_64 machine the build is of a copy of template.yaml with ``x86_64`` in place of
   ``arm64``, so that the layer's native wheels (fasttext-predict) are those of the machine
   that runs them; template.yaml itself keeps arm64 for AWS.
3. The local AWS (a moto server with the template's tables, queues, bus and SSM secrets) and
   the 1MSG simulator, listening on the Docker bridge's address so the containers reach them.
4. An ``--env-vars`` file that points each function there through variables the template
   declares: ``AWS_ENDPOINT_URL`` (declared empty: on AWS botocore ignores an empty value) and
   ``ONEMSG_API_URL``, plus the local names of the tables and queue.
5. The story of ``devstack/sample_events.py``: each event made current, run with
   ``sam local invoke <Function> -e <event>``; its response (not SAM's exit code, which is 0 on
   timeouts and import errors) checked against the outcome the story documents.
6. With ``--start-api``: ``sam local start-api`` on the same env, a webhook POST and a lead GET
   over HTTP, then stopped.

Needs Docker and the image ``public.ecr.aws/lambda/python:3.12-<arch>`` (``docker pull`` it
where the registry is reachable); it never pulls (``--skip-pull-image``). Exit code 0 only if
every step gave its outcome.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack import sample_events
from devstack.aws import LocalAws, Secrets
from devstack.stack import PROJECT_ROOT, Settings
from devstack.template import ResolveContext, Template, resolve

SAM = PROJECT_ROOT / ".venv-sam" / "bin" / "sam"
BUILD_DIR = PROJECT_ROOT / ".aws-sam" / "build"
IMAGE = "public.ecr.aws/lambda/python:3.12-{arch}"
INVOKE_TIMEOUT = 600  # a first invoke builds SAM's image (base + the layer) first


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, text=True, capture_output=True, check=False, **kwargs)  # noqa: S603


def docker_bridge_address() -> str:
    """The host's address on Docker's default bridge: what a container reaches the host at
    (the network's gateway; the daemon leaves it out when it chose it itself: then the
    subnet's first address, which is the one it gives the bridge)."""
    done = _run(["docker", "network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}"])
    try:
        config = json.loads(done.stdout)[0]
        address = config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    except (ValueError, LookupError, TypeError):
        raise SystemExit(
            "Docker does not answer (or has no bridge network): sam local needs a running "
            f"Docker daemon (DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')}).\n{done.stderr}"
        ) from None
    return address


def lambda_arch() -> str:
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def check_image(arch: str) -> None:
    image = IMAGE.format(arch=arch)
    if _run(["docker", "image", "inspect", image]).returncode != 0:
        raise SystemExit(
            f"no local image {image}: `docker pull {image}` (sam local is run with "
            "--skip-pull-image; on a machine without registry access build an equivalent image "
            "offline and tag it with that name)"
        )


def python312_bin() -> str | None:
    """Where a python3.12 is (`sam build` without Docker needs the runtime's interpreter):
    PY312_BIN as the Makefile finds it, else PATH, else pyenv's."""
    found = os.environ.get("PY312_BIN") or shutil.which("python3.12")
    if found:
        return found if os.path.isdir(found) else os.path.dirname(found)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = sorted(pyenv.glob("versions/3.12*/bin/python3.12"))
    return str(candidates[-1].parent) if candidates else None


def sam_build(python312_bin: str | None, arch: str) -> Path:
    """`sam build` for this machine's architecture. The template targets arm64; on x86_64 a
    copy of it with x86_64 is built instead, so that pip fetches the layer's native wheels
    (fasttext-predict) for the machine that runs them. The copy sits beside template.yaml
    (CodeUri and ContentUri are relative to it) only while SAM builds."""
    env = dict(os.environ)
    if python312_bin:
        env["PATH"] = f"{python312_bin}{os.pathsep}{env.get('PATH', '')}"
    source = PROJECT_ROOT / "template.yaml"
    copy = PROJECT_ROOT / f".template-{arch}.yaml"
    if arch != "arm64":
        copy.write_text(re.sub(r"\barm64\b", arch, source.read_text(encoding="utf-8")))
    try:
        argv = [str(SAM), "build"] + ([] if arch == "arm64" else ["-t", copy.name])
        done = _run(argv, cwd=PROJECT_ROOT, env=env)
    finally:
        copy.unlink(missing_ok=True)
    if done.returncode != 0:
        raise SystemExit(f"sam build failed:\n{done.stdout}\n{done.stderr}")
    return BUILD_DIR / "template.yaml"


def env_vars(
    template: Template, ctx: ResolveContext, aws_endpoint: str, onemsg_url: str
) -> dict[str, dict[str, str]]:
    """Per function: the template's variables as the local stack resolves them, with the
    endpoints pointed at the local AWS and the simulator."""
    out: dict[str, dict[str, str]] = {}
    for fn in template.functions():
        values = {k: str(v) for k, v in resolve(fn.environment, ctx).items()}
        values["AWS_ENDPOINT_URL"] = aws_endpoint
        if "ONEMSG_API_URL" in values:
            values["ONEMSG_API_URL"] = onemsg_url
        out[fn.logical_id] = values
    return out


def _run_invoke(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    try:
        return _run(argv, **kwargs)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 1, "", f"no answer within {INVOKE_TIMEOUT} s")


def sam_invoke(
    function: str, template: Path, event: Mapping[str, Any], env_file: Path, region: str
) -> tuple[Any, str]:
    """The function's response (the last JSON line SAM prints on stdout) and SAM's stderr."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(event, handle, ensure_ascii=False)
    try:
        done = _run_invoke(
            [
                str(SAM),
                "local",
                "invoke",
                function,
                "-t",
                str(template),
                "-e",
                handle.name,
                "--env-vars",
                str(env_file),
                "--skip-pull-image",
                "--region",
                region,
            ],
            cwd=PROJECT_ROOT,
            timeout=INVOKE_TIMEOUT,
        )
    finally:
        os.unlink(handle.name)
    response: Any = None
    for line in reversed(done.stdout.strip().splitlines()):
        try:
            response = json.loads(line)
            break
        except ValueError:
            continue
    return response, done.stderr


def run_story(template: Path, env_file: Path, simulator: Any, region: str, out: Any) -> list[str]:
    failures: list[str] = []
    now = time.time()
    replace: dict[str, str] = {}
    for step in sample_events.STORY:
        event = sample_events.make_current(sample_events.load(step.event), now, replace)
        before = len(simulator.sent())
        started = time.monotonic()
        response, log = sam_invoke(step.function, template, event, env_file, region)
        sent = simulator.sent()[before:]
        if step.sends and sent:  # later events refer to the id 1MSG gave this reply
            replace.setdefault(sample_events.BANK_REPLY_ID, sent[0]["id"])
        problems = sample_events.problems(step, response, len(sent))
        seconds = time.monotonic() - started
        verdict = "ok" if not problems else "FAIL: " + "; ".join(problems)
        out.write(f"  {step.function:<21} {step.event:<42} {seconds:5.1f} s  {verdict}\n")
        out.flush()
        if problems:
            tail = "\n".join(log.strip().splitlines()[-15:])
            out.write(f"    response: {json.dumps(response)[:600]}\n    sam: {tail}\n")
            failures += [f"{step.event}: {p}" for p in problems]
    return failures


def start_api_check(
    template: Path, env_file: Path, region: str, settings: Settings, out: Any
) -> list[str]:
    """`sam local start-api`: a client's message POSTed to the webhook, then the lead read."""
    port = 3055
    process = subprocess.Popen(  # noqa: S603 - our SAM CLI, fixed argv
        [
            str(SAM),
            "local",
            "start-api",
            "-t",
            str(template),
            "--env-vars",
            str(env_file),
            "--skip-pull-image",
            "--region",
            region,
            "--port",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    try:
        if not _wait_for(base, 60):
            return ["sam local start-api did not start listening within 60 s"]
        chat = "77019876543@c.us"
        body = {
            "instanceId": settings.channel_id,
            "messages": [
                {
                    "id": f"wamid.startapi{int(time.time())}",
                    "body": "Hello! Do you deliver to Astana?",
                    "type": "chat",
                    "senderName": "Aigerim",
                    "chatId": chat,
                    "fromMe": False,
                    "self": 0,
                    "time": int(time.time()),
                }
            ],
        }
        checks = [
            ("POST", f"/hooks/1msg/{settings.webhook_secret}", body, 200, '"opened":1'),
            ("POST", "/hooks/1msg/not-the-secret", body, 401, "unknown webhook secret"),
            ("GET", f"/leads/{chat}", None, 200, '"name":"Aigerim"'),
        ]
        for method, path, payload, status, needle in checks:
            got_status, text = _http(method, base + path, payload)
            ok = got_status == status and needle in text
            shown = path.replace(settings.webhook_secret, "<secret>")
            out.write(f"  start-api {method:<4} {shown:<36} {got_status}  {'ok' if ok else text}\n")
            if not ok:
                failures.append(f"start-api {method} {shown}: {got_status} {text[:300]}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    return failures


def _wait_for(base: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/", timeout=2)
        except urllib.error.HTTPError:
            return True  # it answers (403/404 for an unknown route)
        except OSError:
            time.sleep(0.5)
            continue
        return True
    return False


def _http(method: str, url: str, payload: Any) -> tuple[int, str]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def serve(template: Path, env_file: Path, settings: Settings, out: Any) -> None:
    t, e = template.relative_to(PROJECT_ROOT), env_file.relative_to(PROJECT_ROOT)
    sam = SAM.relative_to(PROJECT_ROOT)
    out.write(
        "\nServing the local AWS and the simulator for sam by hand (Ctrl-C to stop), e.g.:\n"
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"AWS_DEFAULT_REGION={settings.region}   # SAM hands these to the containers\n"
        f"  {sam} local invoke WebhookFunction -t {t} --skip-pull-image --env-vars {e} "
        "-e events/webhook/inbound.json\n"
        f"  {sam} local start-api -t {t} --skip-pull-image --env-vars {e}\n"
        f"  curl -s localhost:3000/hooks/1msg/{settings.webhook_secret} -d '{{...}}'\n"
    )
    out.flush()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        out.write("stopping\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack sam-local", description=__doc__)
    parser.add_argument("--start-api", action="store_true", help="also check sam local start-api")
    parser.add_argument("--no-build", action="store_true", help="use the existing .aws-sam/build")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="set up (build, local AWS, simulator, env file), run no checks, and keep it up "
        "for sam commands by hand until Ctrl-C",
    )
    args = parser.parse_args(argv)
    out = sys.stdout
    if not SAM.exists():
        raise SystemExit(f"no SAM CLI at {SAM}: run make setup")
    if not shutil.which("docker"):
        raise SystemExit("sam local needs Docker (no docker command on PATH)")
    bridge = docker_bridge_address()
    arch = lambda_arch()
    check_image(arch)
    built = BUILD_DIR / "template.yaml"
    if not args.no_build:
        out.write("sam build ...\n")
        out.flush()
        built = sam_build(python312_bin(), arch)
    template_path = built
    settings = Settings.from_env()
    template = Template.load(PROJECT_ROOT)
    ctx = ResolveContext.for_template(
        template, {"OneMsgChannelId": settings.channel_id}, region=settings.region
    )
    from devstack.simulator import OneMsgSimulator

    aws = LocalAws(template, ctx, Secrets(settings.token, settings.webhook_secret), host=bridge)
    simulator = OneMsgSimulator(settings.channel_id, settings.token, host=bridge)
    aws.start()
    simulator.start()
    ctx.parameters["OneMsgApiUrl"] = str(simulator.url)
    try:
        env_file = BUILD_DIR / "env-vars.local.json"
        env_file.write_text(
            json.dumps(env_vars(template, ctx, aws.endpoint_url, str(simulator.url)), indent=2)
        )
        out.write(
            f"local AWS {aws.endpoint_url}, 1MSG simulator {simulator.url}, "
            f"template {template_path.relative_to(PROJECT_ROOT)}\n"
        )
        os.environ.update(
            {k: v for k, v in aws.function_env().items() if k.startswith("AWS_") and "URL" not in k}
        )  # SAM hands the caller's credentials and region to the containers: dummy ones
        if args.serve:
            serve(template_path, env_file, settings, out)
            return 0
        out.write(f"sam local invoke, {len(sample_events.STORY)} events:\n")
        failures = run_story(template_path, env_file, simulator, settings.region, out)
        if args.start_api:
            failures += start_api_check(template_path, env_file, settings.region, settings, out)
    finally:
        simulator.stop()
        aws.stop()
    verdict = "every outcome as documented" if not failures else f"{len(failures)} failed"
    out.write(f"\nsam-local: {verdict}\n")
    return 1 if failures else 0
