"""Run the real SAM transform on template.yaml, offline, and print the CloudFormation it makes.

This is the translator CloudFormation applies at deploy time (`aws-sam-translator`, in the SAM
CLI's venv): a template it refuses cannot deploy, whatever cfn-lint says of the SAM source. Run
with `.venv-sam/bin/python scripts/sam_transform.py [-o transformed.json]`; exits 1 with the
translator's reasons when the template is invalid.

Offline on purpose: local `CodeUri`/`ContentUri` folders become placeholder S3 locations (as
`sam validate` does), parameters take their defaults (a placeholder for those without one), and
the managed-policy map is empty (the template names no managed policy by its short name).

A cfn-lint suppression a function declares in its `Metadata` (each with its reason in
template.yaml) is carried onto the resources SAM generates from that function (its role, event
rules, permissions, event source mappings, all named after it), so that linting the transformed
template honours the same decisions as linting the source.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_S3 = "s3://session-reply-placeholder/code.zip"
# Values given to parameters that have no default (what an operator passes at deploy time).
REQUIRED_PARAMETERS = {"OneMsgChannelId": "100001"}
# The region only names partitions and service principals; nothing is called.
REGION = "us-east-1"
LOCAL_URI_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def load(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    for resource in template.get("Resources", {}).values():
        prop = LOCAL_URI_PROPERTIES.get(resource.get("Type", ""))
        if prop and isinstance(resource.get("Properties", {}).get(prop), str):
            resource["Properties"][prop] = PLACEHOLDER_S3
    return template


def parameter_values(template: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        if "Default" in spec:
            values[name] = spec["Default"]
        elif name in REQUIRED_PARAMETERS:
            values[name] = REQUIRED_PARAMETERS[name]
    return values


def transform(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The CloudFormation template SAM makes of `path`; InvalidDocumentException if it cannot."""
    template = load(path)
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=boto3.Session(region_name=REGION),
    )
    result: dict[str, Any] = translator.translate(
        sam_template=template,
        parameter_values=parameter_values(template),
        get_managed_policy_map=dict,
    )
    _carry_lint_suppressions(template, result)
    return result


def _carry_lint_suppressions(source: dict[str, Any], result: dict[str, Any]) -> None:
    resources: dict[str, Any] = result.get("Resources", {})
    for logical_id, resource in source.get("Resources", {}).items():
        lint = resource.get("Metadata", {}).get("cfn-lint")
        if resource.get("Type") != "AWS::Serverless::Function" or not lint:
            continue
        for generated_id, generated in resources.items():
            if generated_id != logical_id and generated_id.startswith(logical_id):
                generated.setdefault("Metadata", {}).setdefault("cfn-lint", lint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("-o", "--output", type=Path, help="write the JSON here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        result = transform(args.template)
    except InvalidDocumentException as error:
        print(f"SAM transform failed: {error}", file=sys.stderr)
        for cause in error.causes:
            print(f"  - {cause}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
