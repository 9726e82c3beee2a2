"""The token set: hashes only, exact matches, a short cache and a rate-limited refetch on a miss."""

from __future__ import annotations

import pytest

from pcompile.runtime import proxy_auth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_record_holds_a_salted_hash_never_the_secret() -> None:
    token_id, secret, record = proxy_auth.new_token()
    assert token_id.startswith("wk-") and secret.startswith("ws-")
    assert secret not in proxy_auth.dump({token_id: record}) and set(record) == {"created", "salt", "sha256"}
    other_id, other_secret, other = proxy_auth.new_token()
    assert other["salt"] != record["salt"] and other_secret != secret and other_id != token_id
    tokens = {token_id: record}
    assert proxy_auth.verify(tokens, token_id, secret)
    assert not proxy_auth.verify(tokens, token_id, other_secret)
    assert not proxy_auth.verify(tokens, other_id, secret)
    assert not proxy_auth.verify(tokens, token_id, "")


def test_a_new_token_is_found_on_a_miss_at_most_once_a_second() -> None:
    clock, reads = Clock(), []
    store = {"text": ""}

    def read() -> str:
        reads.append(clock.now)
        return store["text"]

    tokens = proxy_auth.TokenSet(read, clock)
    assert not tokens.check("wk-a", "ws-a") and len(reads) == 1
    token_id, secret, record = proxy_auth.new_token()
    store["text"] = proxy_auth.dump({token_id: record})
    clock.now += 0.5
    assert not tokens.check(token_id, secret) and len(reads) == 1  # rate-limited
    clock.now += proxy_auth.MISS_REFETCH_S
    assert tokens.check(token_id, secret) and len(reads) == 2  # refetched on the miss
    clock.now += 1
    assert tokens.check(token_id, secret) and len(reads) == 2  # a hit uses the cache
    store["text"] = proxy_auth.dump({})
    clock.now += proxy_auth.CACHE_S
    assert not tokens.check(token_id, secret) and len(reads) == 3  # deleted: gone after the cache


def test_a_failing_store_keeps_the_last_good_set(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    token_id, secret, record = proxy_auth.new_token()
    answers = [proxy_auth.dump({token_id: record})]

    def read() -> str:
        if not answers:
            raise OSError("store unreachable")
        return answers.pop()

    tokens = proxy_auth.TokenSet(read, clock)
    assert tokens.check(token_id, secret)
    clock.now += proxy_auth.CACHE_S
    assert tokens.check(token_id, secret)
    assert "store unreachable" in capsys.readouterr().err


def test_a_malformed_document_is_an_error_and_an_unknown_url_too() -> None:
    with pytest.raises(ValueError, match="tokens"):
        proxy_auth.parse('{"tokens": []}')
    assert proxy_auth.parse("") == {}
    with pytest.raises(ValueError, match="file://, secretsmanager:// or gcpsecret://"):
        proxy_auth.reader("ftp://x")
