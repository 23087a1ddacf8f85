"""BCP-47 language tags as the API speaks them: validation, canonical case, primary subtags.

The API takes tags case-insensitively and also reads the POSIX-style "en_US" that Piper voices
and many locales use as "en-US" (an alias, since an underscore never appears in a valid tag).
Canonical case follows RFC 5646 section 2.1.1: language lower case ("en"), script title case
("Latn"), region upper case ("US"), everything else lower case.
"""

from __future__ import annotations

import re

from voxserve.server.errors import InvalidArgument

# RFC 5646 section 2.1: a 2-3 letter language (or 5-8 letters, registered), then subtags of
# 1-8 letters or digits. Private-use and grandfathered tags are not accepted.
_LANGUAGE = re.compile(r"[a-z]{2,3}|[a-z]{5,8}")
_SUBTAG = re.compile(r"[a-z0-9]{1,8}")
_SCRIPT = re.compile(r"[a-z]{4}")
_REGION = re.compile(r"[a-z]{2}|[0-9]{3}")
MAX_TAG_LENGTH = 35  # RFC 5646 section 4.4.1: 35 characters hold every meaningful tag


def normalize_language_code(tag: str, field: str = "language_code") -> str:
    """A BCP-47 tag in canonical case ("EN_us" -> "en-US"); InvalidArgument naming `field`
    for anything that is not one."""
    cleaned = tag.strip().replace("_", "-")
    subtags = cleaned.lower().split("-")
    if len(cleaned) > MAX_TAG_LENGTH or not _LANGUAGE.fullmatch(subtags[0]) or not all(
        _SUBTAG.fullmatch(s) for s in subtags[1:]
    ):
        raise InvalidArgument(
            f"{field} {tag!r} is not a BCP-47 language tag such as \"en\" or \"en-US\""
        )
    return "-".join(_canonical_case(s, i) for i, s in enumerate(subtags))


def primary_subtag(tag: str, field: str = "language_code") -> str:
    """The language of a tag, lower case: "en-US" -> "en" (what recognizers return)."""
    return normalize_language_code(tag, field).split("-")[0]


def same_language(tag: str, other: str) -> bool:
    """Whether two valid tags name the same language ("en" and "en-GB" do)."""
    return primary_subtag(tag) == primary_subtag(other)


def _canonical_case(subtag: str, position: int) -> str:
    if position == 0:
        return subtag
    if _SCRIPT.fullmatch(subtag) and position == 1:
        return subtag.title()
    if _REGION.fullmatch(subtag) and position <= 2:
        return subtag.upper()
    return subtag
