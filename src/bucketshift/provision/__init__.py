"""Provisioning: destination buckets and the application's IAM access, from the plan file.

`desired` builds the wanted state from the plan, `live` reads what exists, `diff` compares them
resource by resource, `apply` and `iam` write only what differs, `posture` judges exposure, and
`policies` holds the generated documents.  Nothing here prints; `operations.provision` composes it.
"""
