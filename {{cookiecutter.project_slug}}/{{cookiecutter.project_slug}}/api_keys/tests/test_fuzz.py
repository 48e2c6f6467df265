"""Hostile input: generated header values never crash the parser or the endpoint, never echo.

Examples per test: 500, or 10,000 with HYPOTHESIS_PROFILE=thorough (see conftest.py).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..keys import ALPHABET, MAX_KEY_LENGTH, KeyGenerator, checksum

generator = KeyGenerator(brand="acme")
REAL_KEY, _, _ = generator.generate()
BASE62 = st.text(alphabet=ALPHABET)
LOOKUP_IDS = st.text(alphabet=ALPHABET, min_size=12, max_size=12)
CHECKSUMS = st.text(alphabet=ALPHABET, min_size=6, max_size=6)

hostile_values = st.one_of(
    st.text(),  # any unicode, control characters and NUL included
    st.text(min_size=MAX_KEY_LENGTH - 2, max_size=4 * MAX_KEY_LENGTH),
    st.sampled_from(["", " ", "\t", "\x00", "Api-Key", "%s%s%n", "{0}{1}", "' OR '1'='1", "--"]),
    st.builds(lambda tail: REAL_KEY + tail, st.text(min_size=1, max_size=8)),
    st.builds(lambda n: REAL_KEY[:n], st.integers(0, len(REAL_KEY) - 1)),
    st.builds(lambda lookup_id, bad: f"acme_{lookup_id}_{'s' * 32}{bad}", LOOKUP_IDS, CHECKSUMS),
    st.builds(lambda prefix, secret: f"{prefix}.{secret}", BASE62, BASE62),
    st.builds(lambda _: KeyGenerator().generate()[0], st.none()),  # well formed, unknown
)


@given(hostile_values)
def test_the_parser_never_raises_and_accepts_only_well_formed_keys(value):
    if generator.parse(value) is not None:
        assert value.startswith("acme_")
        assert value[-6:] == checksum(value[:-6])


KNOWN_BODIES = {
    (
        b'{"error":{"code":"not_authenticated",'
        b'"message":"Authentication credentials were not provided."}}'
    ),
    b'{"error":{"code":"malformed_api_key","message":"Malformed API key."}}',
    b'{"error":{"code":"invalid_api_key","message":"Invalid API key."}}',
}


@pytest.fixture
def no_refusal_limit(api_keys_options):
    """Thousands of refusals from one address would get 429: test_throttling tests the limit.
    Set once per test (a fixture), not once per example, which would stack overrides."""
    api_keys_options(REFUSAL_RATE=None)


@pytest.mark.django_db
@pytest.mark.usefixtures("no_refusal_limit")
@given(
    keyword=st.sampled_from(["Api-Key", "api-key", "Bearer", "", "Api-Key "]), value=hostile_values
)
def test_the_endpoint_answers_401_to_every_hostile_header(client, keyword, value):
    header = f"{keyword} {value}" if keyword else value
    response = client.get("/api/v1/whoami/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.content in KNOWN_BODIES  # fixed texts: the presented value is never echoed
