from __future__ import annotations

from events.partitioning import murmur2, partition_for

# Kafka's own test vectors (clients UtilsTest.testMurmur2), as signed Java ints.
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_murmur2_matches_java() -> None:
    for data, signed in JAVA_VECTORS.items():
        assert murmur2(data) == signed & 0xFFFFFFFF, data


def test_partition_is_stable_and_in_range() -> None:
    for n in (1, 3, 6, 12):
        for key in ("acme", "t0", "tenant-with-a-long-name"):
            assert 0 <= partition_for(key, n) < n
            assert partition_for(key, n) == partition_for(key, n)
