"""A set of record ids in ~16–32 bytes per id, so a run over millions of records stays small.

Python's ``set[str]`` costs about 100 bytes per short id (the string object plus its slot);
over a 10-million-record input that is a gigabyte just to notice repeated ids. ``IdSet`` keeps
a 96-bit BLAKE2b digest of each id in an open-addressing table inside one ``bytearray``
(linear probing, doubled when 3/4 full). Two different ids share a digest with probability
about n²/2⁹⁷ — under 10⁻¹⁷ for a million ids — so membership is exact for any real input.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b

DIGEST = 12
EMPTY = bytes(DIGEST)


class IdSet:
    def __init__(self, ids: Iterable[str] = (), capacity: int = 1024) -> None:
        slots = 8
        while slots < capacity:
            slots *= 2
        self._table = bytearray(slots * DIGEST)
        self._mask = slots - 1
        self._size = 0
        for record_id in ids:
            self.add(record_id)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, record_id: object) -> bool:
        if not isinstance(record_id, str):
            return False
        digest = _digest(record_id)
        return self._find(digest)[1]

    def add(self, record_id: str) -> None:
        digest = _digest(record_id)
        slot, present = self._find(digest)
        if present:
            return
        start = slot * DIGEST
        self._table[start : start + DIGEST] = digest
        self._size += 1
        if 4 * self._size > 3 * (self._mask + 1):
            self._grow()

    def _find(self, digest: bytes) -> tuple[int, bool]:
        """(slot, found): the slot holding ``digest``, or the empty slot where it would go."""
        table, mask = self._table, self._mask
        slot = int.from_bytes(digest[:8], "little") & mask
        while True:
            start = slot * DIGEST
            if table.startswith(digest, start):
                return slot, True
            if table.startswith(EMPTY, start):
                return slot, False
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        old = self._table
        self._table = bytearray(2 * len(old))
        self._mask = 2 * (self._mask + 1) - 1
        for start in range(0, len(old), DIGEST):
            digest = bytes(old[start : start + DIGEST])
            if digest != EMPTY:
                slot = self._find(digest)[0] * DIGEST
                self._table[slot : slot + DIGEST] = digest


def _digest(record_id: str) -> bytes:
    digest = blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=DIGEST).digest()
    # The all-zero digest marks an empty slot; remap it (it never occurs in practice).
    return digest if digest != EMPTY else b"\x01" + digest[1:]
