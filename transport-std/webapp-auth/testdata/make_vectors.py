"""Writes the init-data test vectors, independently of the Rust code.

Each case is signed here with Python's own hmac/hashlib (the platform's published algorithm),
then checked with aiogram's `check_webapp_signature`; the file records aiogram's verdict, and
the script fails if a case does not get the verdict it was built for.

Usage: python make_vectors.py OUT.json   (needs `pip install aiogram==3.31.0`)
"""
import hashlib
import hmac
import json
import sys
from urllib.parse import quote, urlencode

from aiogram.utils.web_app import check_webapp_signature

TOKEN = "123456:TEST-bot-token-for-vectors"
OTHER_TOKEN = "654321:another-bot"
NOW = 1_760_000_000  # the `now` the Rust tests verify at
USER = {"id": 42, "first_name": "Zoë", "last_name": "Müller", "username": "zoe_m", "language_code": "de"}


def sign(token, fields):
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()


def query(pairs):
    # quote_via=quote writes spaces as %20; the `plus` cases below use `+`.
    return urlencode(pairs, quote_via=quote)


def base(auth_date=NOW - 60):
    return {
        "query_id": "AAH-test",
        "user": json.dumps(USER, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(auth_date),
    }


cases = []


def add(name, init_data, aiogram_expected, note):
    verdict = check_webapp_signature(TOKEN, init_data)
    if verdict != aiogram_expected:
        sys.exit(f"{name}: aiogram says {verdict}, expected {aiogram_expected}")
    cases.append({"name": name, "init_data": init_data, "aiogram_valid": verdict, "note": note})


fields = base()
signed = dict(fields, hash=sign(TOKEN, fields))
add("valid", query(list(signed.items())), True, "signed as the platform signs")
add("valid-reordered", query(list(reversed(list(signed.items())))), True, "field order does not matter")
add(
    "valid-plus-spaces",
    urlencode(list(signed.items())),
    True,
    "spaces written as +, which form decoding turns back into spaces",
)
tampered = dict(signed, user=signed["user"].replace('"id":42', '"id":43'))
add("tampered-user", query(list(tampered.items())), False, "the user id changed after signing")
tampered_date = dict(signed, auth_date=str(NOW))
add("tampered-auth-date", query(list(tampered_date.items())), False, "auth_date refreshed after signing")
other = dict(fields, hash=sign(OTHER_TOKEN, fields))
add("other-bot", query(list(other.items())), False, "signed for another bot token")
no_hash = dict(fields)
add("missing-hash", query(list(no_hash.items())), False, "no hash field")
old = base(auth_date=NOW - 2 * 86_400)
add("expired", query(list(dict(old, hash=sign(TOKEN, old)).items())), True, "valid signature, two days old")
future = base(auth_date=NOW + 3_600)
add("future-dated", query(list(dict(future, hash=sign(TOKEN, future)).items())), True, "valid signature, an hour ahead")
skew = base(auth_date=NOW + 10)
add("slightly-ahead", query(list(dict(skew, hash=sign(TOKEN, skew)).items())), True, "10 s ahead: within the skew allowance")
no_date = {"query_id": "AAH-test"}
add("missing-auth-date", query(list(dict(no_date, hash=sign(TOKEN, no_date)).items())), True, "valid signature, no auth_date")
add("not-a-query", "user&hash=00", False, "a field without =")

json.dump({"token": TOKEN, "now": NOW, "cases": cases}, open(sys.argv[1], "w"), indent=2, ensure_ascii=False)
print(f"{len(cases)} vectors written, each verdict confirmed by aiogram")
