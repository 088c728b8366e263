#!/usr/bin/env python3
"""Deploy template.yaml into moto's CloudFormation, as `sam package && sam deploy` would.

moto drops AWS::Serverless::* resources, so the template is transformed first
with the SAM translator (the library `sam deploy` relies on), its CodeUri
pointing at an S3 object as `sam package` leaves it. The stack is created and
waited for until CREATE_COMPLETE; its outputs are printed as one JSON object.

The Lambda event source mappings are then disabled: moto would otherwise try
to invoke the function (in Docker) on every SendMessage, while the local stack
plays the mapping itself with its own SQS poller.

Usage: moto-deploy.py --endpoint http://127.0.0.1:PORT [--template template.yaml]
                      [--stack hubsend] [--parameter Key=Value ...]
Needs: boto3, aws-sam-translator (tools/requirements-deploy.txt).
"""

import argparse
import io
import json
import os
import sys
import time
import zipfile

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

BUCKET = "hubsend-artifacts"
CODE_KEY = "hubsend/bootstrap.zip"


class NoManagedPolicies:
    """The template names no managed policies by name, so none are looked up."""

    def load(self):
        return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--stack", default="hubsend")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    params = dict(p.split("=", 1) for p in args.parameter)
    # The translator resolves AWS::Region; moto takes any credentials.
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "hubsend-local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "hubsend-local")
    session = boto3.Session(region_name=args.region)

    def client(name):
        return session.client(name, endpoint_url=args.endpoint)

    # sam package: the code goes to S3 and CodeUri points at it. moto only
    # stores it; the local stack runs the functions' handlers itself.
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
    s3.put_object(Bucket=BUCKET, Key=CODE_KEY, Body=code.getvalue())

    with open(args.template) as f:
        template = yaml_parse(f.read())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{BUCKET}/{CODE_KEY}"
    transformed = transform(template, params, NoManagedPolicies())

    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=args.stack,
        TemplateBody=json.dumps(transformed),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    deadline = time.monotonic() + args.timeout
    while True:
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            events = cfn.describe_stack_events(StackName=args.stack)["StackEvents"]
            for e in events:
                if e.get("ResourceStatusReason"):
                    print(f"{e['LogicalResourceId']}: {e['ResourceStatus']} {e['ResourceStatusReason']}", file=sys.stderr)
            sys.exit(f"stack {args.stack} is {status}, want CREATE_COMPLETE")
        time.sleep(0.2)

    lam = client("lambda")
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    resources = cfn.list_stack_resources(StackName=args.stack)["StackResourceSummaries"]
    out = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # moto lists the resource types it skips (ApiGatewayV2, alarms...) without an id.
    out["_Resources"] = {r["LogicalResourceId"]: r["ResourceType"] for r in resources if r["LogicalResourceId"]}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
