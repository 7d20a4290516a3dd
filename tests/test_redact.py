"""Redaction on a table of positives and tricky negatives; precision and recall stay high."""

from __future__ import annotations

import pytest

from ftui.curate.redact import find, redact

# (text, the kinds that must be found in it)
POSITIVES = [
    ("mail me at jane.doe@example.com please", ["EMAIL"]),
    ("cc: ops-team+alerts@mail.example.org", ["EMAIL"]),
    ("call +1 415 555 0132 tonight", ["PHONE"]),
    ("office: (030) 1234 5678", ["PHONE"]),
    ("mobile 0171-555-0199", ["PHONE"]),
    ("server 192.168.10.42 refuses ssh", ["IP_ADDRESS"]),
    ("backup at 10.0.0.7.", ["IP_ADDRESS"]),
    ("ipv6 2001:db8:85a3::8a2e:370:7334 is down", ["IP_ADDRESS"]),
    ("link-local fe80::1ff:fe23:4567:890a here", ["IP_ADDRESS"]),
    ("card 4111 1111 1111 1111 exp 12/28", ["CREDIT_CARD"]),
    ("card 5555-5555-5555-4444", ["CREDIT_CARD"]),
    ("amex 378282246310005", ["CREDIT_CARD"]),
    ("IBAN DE89 3704 0044 0532 0130 00 for the transfer", ["IBAN"]),
    ("pay to GB82WEST12345698765432", ["IBAN"]),
    ("key sk-proj-4fG7hJ2kL9mN3pQ8rS1tU6vW0xY5zA2bC7dE works", ["API_KEY"]),
    ("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz012345", ["API_KEY"]),
    ("token ghp_R4nd0mT0k3nV4lu3F0rT35t1ngOnly12345678", ["API_KEY"]),
    ("slack xoxb-123456789012-abcdefghijkl", ["API_KEY"]),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", ["API_KEY"]),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", ["API_KEY"]),
    ("hf token hf_abcdefghijklmnopqrstuvwxyzABCDEF12", ["API_KEY"]),
    ("AKIAIOSFODNN7EXAMPLE is my access key", ["AWS_ACCESS_KEY"]),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ["SECRET"]),
    ("jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", ["JWT"]),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234\nabcd\n-----END RSA PRIVATE KEY-----",
     ["PRIVATE_KEY"]),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
     ["PRIVATE_KEY"]),
    ("email a@b.io and phone +44 20 7946 0958", ["EMAIL", "PHONE"]),
    # gaps found by outside testing (issue 10)
    ("phone 4155550132 after six", ["PHONE"]),
    ("whatsapp +4915123456789", ["PHONE"]),
    ("tel:+14155550132", ["PHONE"]),
    ("call 415.555.0132 or +49.30.1234.5678.", ["PHONE", "PHONE"]),
    ("mobile: 0171.555.0199", ["PHONE"]),
    ("clone https://deploy:hunter2@git.example.com/app.git", ["PASSWORD"]),
    ("DATABASE_URL=postgres://admin:S3cr%40t!@db.internal:5432/app", ["PASSWORD"]),
    ("redis://:p4ssw0rd@cache:6379/0", ["PASSWORD"]),
    ("curl -H 'Authorization: Bearer 8f2b1c9e7d6a5f4e3b2a1c0d9e8f7a6b' https://api.example.com",
     ["TOKEN"]),
    ('headers = {"Authorization": "Bearer ya29.a0AfH6SMBx-3kLq_9zT"}', ["TOKEN"]),
    ("send Bearer 0b8e4a1f-2c3d-4e5f-9a8b-7c6d5e4f3a2b with each call", ["TOKEN"]),
    ("authorization: bearer abcDEF123456ghiJKL", ["TOKEN"]),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75r1hx9mQ3vOqPz\nKx7Y2bG", ["PRIVATE_KEY"]),
    ("my key: -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
     ["PRIVATE_KEY"]),
    ("-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\r\n", ["PRIVATE_KEY"]),
    ("schreib an jürgen@exämple.de bitte", ["EMAIL"]),
    ("联系 用户@例子.公司 谢谢", ["EMAIL"]),
    ("mail josé.garcía@correo.es", ["EMAIL"]),
    ("write to first_last@example.com", ["EMAIL"]),
]

# Text that looks close to PII but is not: nothing may be found.
NEGATIVES = [
    "upgrade to version 1.2.3.4 of the driver",
    "python 3.11.7 and node 20.20.2",
    "release v2.10.0.1 fixed it",
    "the commit is 3f786850e387550fdab836ed7e6dc881de23001b",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "@property\ndef name(self):\n    return self._name",
    "@app.route('/users/<int:id>')",
    "listen on 127.0.0.1:8080 and 0.0.0.0",
    "std::vector<int> v; std::cout << v.size();",
    "the meeting is at 12:30:45 UTC",
    "date 2026-11-25 and time 10:00",
    "order id 1234567890123",
    "a ratio of 3.14159 and 2.71828",
    "port range 8000-9000",
    "use numpy.float64 and os.path.join",
    "git@github.com:org/repo.git is the ssh remote",
    "x = [1, 2, 3, 4, 5, 6, 7, 8]",
    "The ISBN 978-3-16-148410-0 of the book",
    "netmask 255.255.255.0",
    "sk-learn is not a key, nor is task-runner-config",
    # look-alikes of the gaps above (issue 10)
    "timestamp 1732550400 and build 20261125",
    "order number 123456789012 shipped",
    "ISBN 9783161484100 and ISBN-10 0306406152",
    "Windows 10.0.19041.1288 and population 123.456.789 or 12.345.678.901",
    "meet on 25.11.2026 or 2026.11.25",
    "pi is 3.1415926535",
    "visit https://example.com:8443/path?q=1 or http://localhost:8080/@user",
    "ssh://git@github.com/org/repo.git and https://user@example.com/x",
    "The bearer of this letter, and Bearer tokens expire after 3600 seconds.",
    'headers = {"Authorization": f"Bearer {token}"} or "Bearer $TOKEN" or Bearer <token>',
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
    "-----END PUBLIC KEY-----",
    "what does the line -----BEGIN RSA PRIVATE KEY----- mean?",
    "npm i @scope/pkg@1.2.3 and docker pull python@sha256:abc123",
    "mail goes to jürgen@localhost here",
]


def test_positives_found_with_their_kind():
    missed = []
    for text, kinds in POSITIVES:
        found = sorted(f.kind for f in find(text))
        if found != sorted(kinds):
            missed.append((text, kinds, found))
    recall = 1 - len(missed) / len(POSITIVES)
    assert recall >= 0.95, missed
    assert not missed, missed


def test_negatives_untouched():
    false = [(t, [f.kind for f in find(t)]) for t in NEGATIVES if find(t)]
    assert not false, false


def test_precision_and_recall_over_the_table():
    tp = sum(len(find(t)) == len(k) for t, k in POSITIVES)
    fp = sum(len(find(t)) for t in NEGATIVES)
    precision = tp / (tp + fp)
    recall = tp / len(POSITIVES)
    assert precision == 1.0 and recall == 1.0, (precision, recall)


@pytest.mark.parametrize("text,expected", [
    ("mail jane@example.com now", "mail <EMAIL> now"),
    ("key AKIAIOSFODNN7EXAMPLE!", "key <AWS_ACCESS_KEY>!"),
    ("no secrets here", "no secrets here"),
    ("clone https://deploy:hunter2@git.example.com/app.git now",
     "clone https://deploy:<PASSWORD>@git.example.com/app.git now"),
    ("Authorization: Bearer 8f2b1c9e7d6a5f4e3b2a1c0d9e8f7a6b\nAccept: */*",
     "Authorization: Bearer <TOKEN>\nAccept: */*"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75r1hx9mQ3vOqPz\nKx7Y2bG",
     "<PRIVATE_KEY>"),
    ("an de jürgen@exämple.de.", "an de <EMAIL>."),
    ("call 415.555.0132.", "call <PHONE>."),
])
def test_placeholders(text, expected):
    assert redact(text)[0] == expected


# Hostile shapes (about 60k characters each): a regex that backtracks over every start position
# takes seconds on these; every pattern must stay linear.
HOSTILE = {
    "address run without a domain": "a" * 50_000 + "@" + "b-" * 20_000,
    "dotted labels, no top-level domain": "x@" + "a." * 30_000,
    "many at signs": "a@" * 30_000,
    "many BEGIN lines, no END": "-----BEGIN RSA PRIVATE KEY----- x " * 2_000,
    "URL user and password, no host": "http://" + "a" * 20_000 + ":" + "b" * 20_000 + " ",
    "bearer and dotted junk": "Bearer " + "a1." * 30_000,
    "digits and dots": "12." * 30_000,
    "colons": "1:" * 30_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_is_linear(name):
    import time

    start = time.perf_counter()
    redact(HOSTILE[name])
    assert time.perf_counter() - start < 0.5, name


def _reference():
    """Today's redaction before issue 16 (every pattern over every text), kept beside the
    benchmark: the fast path must give exactly its placeholders at exactly its places."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).parent / "benchmarks" / "reference_redact.py"
    spec = importlib.util.spec_from_file_location("reference_redact", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def _mixed_corpus() -> list[str]:
    """The table, the hostile shapes, and every pair of them glued together (with and without a
    separator, in both orders, around non-ASCII text and non-ASCII digits)."""
    pieces = [t for t, _ in POSITIVES] + NEGATIVES + [
        "٤١٥٥٥٥٠١٣٢ and ٤١١١ ١١١١ ١١١١ ١١١١", "phone ٤١٥٥٥٥٠١٣٢",
        "— dash — and “quotes”",
        "dead:beef::cafe and fe80::", "password = wJalrXUtnFEMI/K/MDENG/bPxRfiCYEXAMPLEKEYx",
        "Bearer abc", "x" * 50, "",
    ]
    out = list(pieces)
    for i, a in enumerate(pieces):
        b = pieces[(i * 7 + 3) % len(pieces)]
        out += [a + b, a + " " + b, b + "\n" + a, "ü " + a + " —"]
    return out


def test_fast_path_gives_the_reference_placeholders():
    reference = _reference()
    corpus = _mixed_corpus() + [v[:5000] for v in HOSTILE.values()]
    for text in corpus:
        assert redact(text) == reference.redact(text), text[:80]
    table_hits = sum(bool(reference.find(t)) for t, _ in POSITIVES)
    assert table_hits == len(POSITIVES)  # the comparison covers every kind, not only misses


def test_non_ascii_digit_lead_bytes_cover_this_python():
    import sys

    from ftui.curate.redact import _NON_ASCII_DIGIT_LEADS

    leads = {chr(c).encode()[:1] for c in range(0x80, sys.maxunicode + 1) if chr(c).isdecimal()}
    assert leads <= set(_NON_ASCII_DIGIT_LEADS)


def test_one_quick_look_is_looser_than_every_sign():
    """runnable() first asks _no_sign (one look for all the patterns): wherever any pattern's
    own sign is there, that look must say so, or a secret would go through unredacted."""
    from ftui.curate.redact import PATTERNS, _no_sign, runnable

    every_sign = tuple(list(PATTERNS))  # not PATTERNS itself: runnable skips the quick look
    signs = [n for p in PATTERNS for n in p.needs] + [
        "12345678", "12 34", "12-34", "12.34", "1.2.3.4", "DE89", "ab:cd", "fe80::1", "AKIAX",
        "ASIAX", "-----BEGIN X", "x_ghp_", "ghp_x", "bEaReR 1", "SeCrEt", "PASSWORD", "a@b",
        "٤١٥٥٥٥٠١٣٢", "１２３４５６７８", "eyJ", "AIza", "https://u:p@h"]
    corpus = _mixed_corpus() + [v[:5000] for v in HOSTILE.values()] + signs + [
        f"{a} prose — ü {s} 9" for a in ("", "x", "1") for s in signs]
    passed = 0
    for text in corpus:
        if runnable(text, every_sign):
            assert not _no_sign(text), text[:80]
            passed += 1
    assert passed > len(signs)  # the corpus really has signs in it
    assert _no_sign("How do I write a good commit message? — It's short, 3 lines.")
