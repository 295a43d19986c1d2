"""The uuids the service gives cards and suggestions are random version-4 UUIDs in their canonical text form."""

from __future__ import annotations

import uuid

from cds_service.runtime import Runtime, _new_uuid


def test_each_is_a_canonical_random_uuid() -> None:
    made = [_new_uuid() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text  # lower-case hex, 8-4-4-4-12


def test_bits_other_than_version_and_variant_vary() -> None:
    """Over many uuids every one of the 122 random bits is seen both set and clear."""
    values = [uuid.UUID(_new_uuid()).int for _ in range(2_000)]
    every, none = ~0, 0
    for value in values:
        every &= value
        none |= value
    fixed = (0xF << 76) | (0x3 << 62)  # the version nibble and the two variant bits
    random_bits = ((1 << 128) - 1) & ~fixed
    assert every & random_bits == 0 and none & random_bits == random_bits


def test_the_runtime_uses_it_by_default() -> None:
    assert Runtime.__dataclass_fields__["new_uuid"].default is _new_uuid
