"""BCP-47 language tags as the API reads them (server/language.py)."""

from __future__ import annotations

import pytest

from voxserve.server.errors import InvalidArgument
from voxserve.server.language import normalize_language_code, primary_subtag, same_language


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("en", "en"), ("EN", "en"), ("en-us", "en-US"), ("EN_us", "en-US"), (" fr-CA ", "fr-CA"),
        ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419"), ("de-CH-1996", "de-CH-1996"),
        ("yue", "yue"), ("sr-latn", "sr-Latn"),
    ],
)
def test_tags_come_back_in_canonical_case(tag: str, canonical: str) -> None:
    assert normalize_language_code(tag) == canonical


@pytest.mark.parametrize(
    "tag", ["", "e", "english!", "en--US", "en-", "-en", "12", "en-US-toolongsubtag", "x" * 40,
            "en US"])
def test_what_is_not_a_tag_is_refused_naming_the_field(tag: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^config\.language_code .* is not a BCP-47"):
        normalize_language_code(tag, "config.language_code")


def test_primary_subtag_and_same_language() -> None:
    assert [primary_subtag(t) for t in ("en-GB", "FR_ca", "de")] == ["en", "fr", "de"]
    assert same_language("en", "en-GB") and same_language("EN_us", "en-GB")
    assert not same_language("en-US", "de-DE")
