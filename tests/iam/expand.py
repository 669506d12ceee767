"""Expands template.yaml for one set of stack parameters into the IAM policies each principal holds.

The SAM side is aws-sam-cli's own: `sam validate`'s translation (SamTemplateValidator, the pinned
aws-sam-translator) and `sam local`'s intrinsic resolver (Ref, Fn::Sub, Fn::If, Fn::GetAtt and the
template's Conditions). Only the attributes that CloudFormation would know after deployment are
supplied here, in the shapes AWS documents: a secret's Ref is its ARN with a 6-character suffix,
a log group's Arn attribute ends in ":*", a managed policy's Ref is its ARN.

    python expand.py --translated        ->  the CloudFormation template SAM makes (for checkov)
    python expand.py [Name=Value ...]   ->  JSON on stdout:
    {"account": ..., "region": ...,
     "principals": {"<LogicalId>": {"arn": ..., "policies": [<document>...],
                                    "unknownManagedPolicies": [<arn>...]}},
     "functionRoles": {"<Function>": "<role arn>"},
     "attributes": {"<LogicalId>": {"Ref": ..., "Arn": ...}}}
Roles and users are principals; so is each customer managed policy, as held by a user alone.
An AWS managed policy the template attaches is listed in unknownManagedPolicies: its document is
not in the template, so the evaluation cannot see it (the IAM test refuses any).
"""

import copy
import json
import os
import re
import sys

from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "tenant-keys"
# sam local's resolver evaluates both branches of an Fn::If and cannot carry AWS::NoValue (None)
# through one; it stands as this marker until the end, then goes as CloudFormation drops it.
NO_VALUE = "<AWS::NoValue>"
TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "template.yaml")


class OfflinePolicyLoader:
    """The template names no AWS managed policy by name; asking for the map is an error."""

    def load(self):
        raise RuntimeError("template.yaml names a managed policy by name: use its ARN")


def mark_no_value(node):
    if node == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if isinstance(node, dict):
        return {key: mark_no_value(value) for key, value in node.items()}
    if isinstance(node, list):
        return [mark_no_value(item) for item in node]
    return node


def as_deployed(node):
    """Drops the AWS::NoValue markers, and turns Fn::Sub's escaped "${!Literal}" into
    "${Literal}" as CloudFormation does (the resolver leaves it escaped)."""
    if isinstance(node, dict):
        return {key: as_deployed(value) for key, value in node.items() if value != NO_VALUE}
    if isinstance(node, list):
        return [as_deployed(item) for item in node if item != NO_VALUE]
    if isinstance(node, str):
        return node.replace("${!", "${")
    return node


def deployed_attributes(template, params):
    """What CloudFormation returns for Ref / Fn::GetAtt of the resources the policies name."""
    region = REGION
    attributes = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::SecretsManager::Secret":
            name = f"tenant-keys/{STACK}/webhook-signing-secret"
            arn = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-AbCdEf"
            attributes[logical_id] = {"Ref": arn, "Id": arn}
        elif kind == "AWS::Logs::LogGroup":
            name = f"/aws/lambda/{STACK}-{logical_id}"
            attributes[logical_id] = {
                "Ref": name,
                "Arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}:*",
            }
        elif kind == "AWS::IAM::ManagedPolicy":
            attributes[logical_id] = {"Ref": f"arn:aws:iam::{ACCOUNT}:policy/{STACK}-{logical_id}"}
        elif kind == "AWS::IAM::Role":
            arn = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{logical_id}"
            attributes[logical_id] = {"Ref": f"{STACK}-{logical_id}", "Arn": arn}
        elif kind == "AWS::IAM::User":
            attributes[logical_id] = {"Ref": f"{STACK}-{logical_id}", "Arn": f"arn:aws:iam::{ACCOUNT}:user/{STACK}-{logical_id}"}
    return attributes


def main(argv):
    print_translated = "--translated" in argv
    params = dict(arg.split("=", 1) for arg in argv if arg != "--translated")
    with open(TEMPLATE) as f:
        sam_template = yaml_parse(f.read())
    translated = yaml_parse(
        SamTemplateValidator(
            sam_template, OfflinePolicyLoader(), region=REGION, parameter_overrides=params
        ).get_translated_template_if_valid()
    )
    if print_translated:
        json.dump(translated, sys.stdout, indent=1, default=str)
        return
    for name, value in params.items():
        declared = translated["Parameters"].get(name)
        if declared is None:
            raise SystemExit(f"template.yaml has no parameter {name}")
        # CloudFormation refuses a stack whose value does not match the whole AllowedPattern
        # or is not one of AllowedValues (CloudFormation user guide, "Parameters").
        pattern = declared.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise SystemExit(f"CloudFormation refuses {name}={value}: not {pattern}")
        allowed = declared.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            raise SystemExit(f"CloudFormation refuses {name}={value}: not one of {allowed}")

    translator = {
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "AWS::StackName": STACK,
        "AWS::URLSuffix": "amazonaws.com",
    }
    translator.update(params)
    translator.update(deployed_attributes(translated, params))
    translated = mark_no_value(translated)
    resolver = IntrinsicResolver(
        template=copy.deepcopy(translated),
        symbol_resolver=IntrinsicsSymbolTable(template=translated, logical_id_translator=translator),
    )
    resources = {}
    for logical_id, resource in translated["Resources"].items():
        condition = resource.get("Condition")
        if condition and not resolver.intrinsic_property_resolver(
            translated["Conditions"][condition], ignore_errors=False
        ):
            continue
        resources[logical_id] = as_deployed(
            resolver.intrinsic_property_resolver(resource, ignore_errors=False)
        )

    managed = {
        translator[logical_id]["Ref"]: resource["Properties"]["PolicyDocument"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
    }
    principals = {}
    for logical_id, resource in resources.items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::User"):
            continue
        properties = resource.get("Properties", {})
        policies = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        unknown = []
        for arn in properties.get("ManagedPolicyArns", []):
            if arn in managed:
                policies.append(managed[arn])
            else:
                unknown.append(arn)
        principals[logical_id] = {
            "arn": translator[logical_id]["Arn"],
            "policies": policies,
            "unknownManagedPolicies": unknown,
        }
    # A customer managed policy is judged on its own too, as held by a user with nothing else.
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            principals[logical_id] = {
                "arn": f"arn:aws:iam::{ACCOUNT}:user/holder-of-{logical_id}",
                "policies": [resource["Properties"]["PolicyDocument"]],
                "unknownManagedPolicies": [],
            }
    functions = {
        logical_id: resource["Properties"].get("Role")
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    json.dump(
        {
            "account": ACCOUNT,
            "region": REGION,
            "principals": principals,
            "functionRoles": functions,
            "attributes": {k: v for k, v in translator.items() if isinstance(v, dict)},
        },
        sys.stdout,
        indent=1,
        default=str,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
