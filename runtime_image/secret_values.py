"""How one stored secret value becomes environment variables: the rule both clouds share.

A Modal secret is a set of keys. pcompile stores a code-defined secret as one JSON
object of its keys (Secrets Manager on AWS, Secret Manager on GCP), and a
``Secret.from_name`` secret is whatever the user stored:

* a JSON object: each key is exported with its value (non-string values as their
  ``str``);
* anything else (plain text, a JSON string, number or list): the whole text is
  exported as one variable named after the secret (:func:`plain_key`:
  ``hf-token`` → ``HF_TOKEN``).

Imports nothing beyond the standard library.
"""

from __future__ import annotations

import json
import re


def plain_key(secret: str) -> str:
    """The variable a non-JSON secret is exported as: upper case, runs of other characters as ``_``."""
    return re.sub(r"[^A-Z0-9]+", "_", secret.upper()).strip("_") or "SECRET"


def secret_values(secret: str, text: str) -> dict[str, str]:
    """Variable name → value for secret ``secret`` whose stored value is ``text``."""
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        return {plain_key(secret): text}
    return {str(key): str(value) for key, value in sorted(values.items())}
