"""Property-based tests of the judge-answer parser (issue 11): random and adversarial answers end as counts or
as unparsed (None), never as an exception; valid answers round-trip; counts above the bound are unparsed; and a
100 kB answer of any shape parses in well under 2 s (a generous bound: the parser is linear)."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rrg_eval.judge.parse import ERROR_TYPES, MAX_COUNT, Counts, counts_from_json, counts_to_json, parse_answer

SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
SIG = "Number of clinically significant errors by type:"
INSIG = "Number of clinically insignificant errors by type:"


def _ok(result: object) -> bool:
    if result is None:
        return True
    assert isinstance(result, Counts)
    for counts in (result.significant, result.insignificant):
        assert len(counts) == len(ERROR_TYPES) and all(0 <= c <= MAX_COUNT for c in counts)
    return True


def fmt(counts: tuple[int, ...], round_brackets: bool) -> str:
    inner = ", ".join(f"({t}, {n})" for t, n in zip(ERROR_TYPES, counts))
    return f"({inner})" if round_brackets else f"[{inner}]"


# Pieces an adversarial answer is built from: headers, brackets, pairs with huge or odd numbers, quotes.
FRAGMENTS = st.sampled_from([
    SIG, INSIG, "number of clinically", " significant errors", "[", "]", "(", ")", "((", "))", ", ", ":",
    "(A, 1)", "(b, 0)", "('C', 2)", '("D": 3)', "(E, 51)", "(F, 9999999)", "(A, " + "9" * 401 + ")",
    "(B, " + "7" * 5000 + ")", "(Z, 1)", "(A 1)", "\n", "  ", "**", "```", "\u00a0", "\x00", "é", "-1", "1e9",
])
adversarial = st.lists(FRAGMENTS, max_size=60).map("".join)
counts6 = st.tuples(*[st.integers(0, MAX_COUNT)] * 6)


@SETTINGS
@given(st.text(max_size=800))
def test_random_text_is_parsed_or_unparsed(text):
    assert _ok(parse_answer(text))


@SETTINGS
@given(adversarial)
def test_adversarial_answers_are_parsed_or_unparsed(text):
    assert _ok(parse_answer(text))


@SETTINGS
@given(st.lists(st.one_of(FRAGMENTS, st.text(max_size=20)), max_size=40).map("".join))
def test_mixed_adversarial_and_random_text(text):
    assert _ok(parse_answer(text))


@SETTINGS
@given(counts6, counts6, st.booleans(), st.booleans(), st.text(alphabet="xyz .,\n*", max_size=200),
       st.text(alphabet="xyz .,\n*", max_size=200))
def test_valid_answers_round_trip(sig, insig, round_sig, round_insig, before, after):
    text = f"{before}\n{SIG} {fmt(sig, round_sig)}\n{INSIG} {fmt(insig, round_insig)}\n{after}"
    counts = parse_answer(text)
    assert counts == Counts(significant=sig, insignificant=insig)
    assert counts_from_json(counts_to_json(counts)) == counts


@SETTINGS
@given(counts6, st.integers(0, 5), st.integers(MAX_COUNT + 1, 10 ** 12))
def test_counts_above_the_bound_are_unparsed(base, position, big):
    counts = list(base)
    counts[position] = big
    text = f"{SIG} {fmt(tuple(counts), False)}\n{INSIG} {fmt(base, True)}"
    assert parse_answer(text) is None


@SETTINGS
@given(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.dictionaries(st.text(max_size=15), st.lists(
    st.one_of(st.integers(-5, 10 ** 9), st.floats(allow_nan=True), st.booleans(), st.text(max_size=2)), max_size=7),
    max_size=3)))
def test_stored_counts_are_read_back_or_rejected(data):
    counts = counts_from_json(data)
    assert counts is None or _ok(counts)


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(st.lists(FRAGMENTS, min_size=1, max_size=8).map("".join))
def test_a_100kb_answer_of_repeated_fragments_parses_fast(piece):
    text = (piece * (100_000 // len(piece) + 1))[:100_000]
    start = time.perf_counter()
    assert _ok(parse_answer(text))
    assert time.perf_counter() - start < 2.0


def test_hand_made_100kb_worst_cases_parse_fast():
    cases = [
        "(" * 100_000, "[" * 50_000 + "]" * 50_000, (SIG + " ") * 2_000, (SIG + " [") * 2_000,
        SIG + " [" + "(A, 1), " * 12_000, SIG + " " + " " * 100_000, "number" + " " * 100_000 + "of",
        SIG + " [(A" + " " * 100_000 + ", 1)]", SIG + " [(A, " + "1" * 100_000 + ")]",
        (SIG + " [(A, 0), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)]\n") * 1_500,
    ]
    for text in cases:
        start = time.perf_counter()
        assert _ok(parse_answer(text))
        assert time.perf_counter() - start < 2.0, text[:60]


# -- the privacy check on arbitrary hosts (no lookups: a stub resolver) ------------------------------------
HOST_PIECES = st.sampled_from(["127.0.0.1", "10.1.2.3", "::1", "fe80::1", "localhost", ".", "%", "%25", "evil",
                               ".example", "[", "]", ":", "@", "user:pw", "8.8.8.8", "0x7f", "..", "\u0130", "-"])


@SETTINGS
@given(st.lists(st.one_of(HOST_PIECES, st.text(max_size=8)), max_size=8).map("".join))
def test_any_host_string_is_classified_without_an_exception(host):
    from rrg_eval.judge import privacy

    route = privacy.route_of(host, resolver=lambda h: [])
    if route.private:  # nothing resolves here: only literals (and exactly localhost) can be private
        assert privacy.parse_address(host) is not None or host.lower() == "localhost"
        assert route.addresses


@SETTINGS
@given(st.lists(st.one_of(HOST_PIECES, st.text(max_size=8)), max_size=8).map("".join))
def test_any_base_url_is_refused_or_routed_with_a_typed_error_only(tail):
    from rrg_eval.errors import ConfigError
    from rrg_eval.judge import privacy

    for url in (f"http://{tail}/v1", tail):
        try:
            privacy.privacy_refusal(url, allow_remote=False, environ={}, resolver=lambda h: [])
            privacy.endpoint_of(url)
        except ConfigError:
            pass
