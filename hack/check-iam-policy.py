#!/usr/bin/env python3
"""Lints the IAM policy with parliament and fails on any finding, except the ones below where parliament's bundled
IAM definitions disagree with AWS's Service Authorization Reference. Each exception matches one exact finding, so
a new finding of the same kind still fails.

Usage: check-iam-policy.py PARLIAMENT POLICY_JSON
"""
import json
import subprocess
import sys

KNOWN = {
    # AWS documents elasticloadbalancing:CreateAction on AddTags for tagging on create; parliament's copy of the
    # ELBv2 actions predates it.
    ("UNKNOWN_CONDITION_FOR_ACTION",
     "Unknown condition elasticloadbalancing:CreateAction for action elasticloadbalancing:AddTags"),
    # ModifyIpPools (2024, IPAM pools of a load balancer) is in AWS's Service Authorization Reference and in the
    # AWS Load Balancer Controller's policy; parliament's copy of the ELBv2 actions predates it.
    ("UNKNOWN_ACTION", "Unknown action elasticloadbalancing:ModifyIpPools"),
    # CreateSecurityGroup is also authorised on the VPC, which has no request tags: the VPC gets a statement of its
    # own without the tag condition, and parliament wants every statement to name the security group too.
    ("RESOURCE_MISMATCH",
     str([{"action": "ec2:CreateSecurityGroup", "required_format": "arn:*:ec2:*:*:security-group/*"}])),
}


def main():
    parliament, policy = sys.argv[1], sys.argv[2]
    run = subprocess.run([parliament, "--files", policy, "--json", "--minimum_severity", "INFO"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True)
    # parliament exits 1 when it has findings; anything else, or a traceback, is a failure of the lint itself.
    if run.returncode not in (0, 1) or run.stderr.strip():
        sys.exit(f"parliament failed (exit {run.returncode}):\n{run.stderr}")
    findings = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    if run.returncode == 1 and not findings:
        sys.exit("parliament exited 1 without findings")
    bad = [f for f in findings if (f["issue"], str(f["detail"])) not in KNOWN]
    for f in bad:
        print(f"{policy}:{f['location'].get('line')}: {f['severity']} {f['issue']}: {f['title']}: {f['detail']}")
    if bad:
        sys.exit(1)
    print(f"{policy}: parliament found nothing new ({len(findings)} known findings allowed)")


if __name__ == "__main__":
    main()
