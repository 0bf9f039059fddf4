"""The local stack: template.yaml run on loopback ports, with no Docker and no AWS account.

``python -m devstack run | demo | invoke``; see `devstack.stack.LocalStack` for the pieces.
"""
