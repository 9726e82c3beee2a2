"""GCP resource names stay inside GCP's alphabets and lengths for any app or function name."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pcompile.providers.gcp import names

IDENT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=120)


@settings(max_examples=200)
@given(app=IDENT, fn=IDENT, project=IDENT, stack=IDENT)
def test_names_fit_gcp_rules(app: str, fn: str, project: str, stack: str) -> None:
    assert re.fullmatch(r"[a-z]([a-z0-9-]{0,47}[a-z0-9])?", names.service_name(app, fn))
    assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", names.account_id(app, fn))
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", names.bucket_name(project, stack, app, "vol-x"))


def test_names_are_stable_and_distinct() -> None:
    assert names.account_id("a", "f") == names.account_id("a", "f")
    assert names.account_id("a", "f") != names.account_id("b", "f")
    long = "x" * 80
    assert names.service_name("app", long + "1") != names.service_name("app", long + "2")
