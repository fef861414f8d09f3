"""The rate limiter: one bucket per key for every worker process of a server."""

from __future__ import annotations

import os

from nexq.core.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_holds_one_seconds_worth_and_refills_at_the_rate() -> None:
    clock = Clock()
    rates = RateLimiter(slots=64, clock=clock)
    assert [rates.take("a", 3) for _ in range(4)] == [0, 0, 0, 1]
    clock.now += 1 / 3
    assert rates.take("a", 3) == 0
    assert rates.take("a", 3) == 1
    assert rates.take("b", 3) == 0  # keys are independent


def test_a_rate_below_one_still_lets_a_request_through_and_says_how_long_to_wait() -> None:
    clock = Clock()
    rates = RateLimiter(slots=64, clock=clock)
    # What a per-worker share of a small limit once was: below 1 request per second.
    assert rates.take("slow", 1) == 0
    assert rates.take("slow", 1) == 1
    clock.now += 1.0
    assert rates.take("slow", 1) == 0


def test_three_nodes_each_enforce_a_third_and_the_sum_is_the_rate() -> None:
    clock = Clock()
    nodes = [RateLimiter(slots=64, clock=clock, share=3) for _ in range(3)]
    allowed = 0
    # Ten seconds of a client far above the limit, its requests spread evenly (round robin).
    for step in range(10 * 300):
        clock.now = 1000.0 + step / 300
        allowed += nodes[step % 3].take("a", 30) == 0
    # 30/s for 10 s, plus each node's first bucket of 10: within 10 % of the whole rate.
    assert 300 <= allowed <= 330


def test_a_node_share_below_one_request_still_lets_one_through() -> None:
    clock = Clock()
    node = RateLimiter(slots=64, clock=clock, share=3)
    assert node.take("slow", 1) == 0  # a third of 1/s, yet one request goes through
    assert node.take("slow", 1) == 3  # and the next waits for this node's part to refill
    clock.now += 3.0
    assert node.take("slow", 1) == 0


def test_unlimited_and_zero() -> None:
    rates = RateLimiter(slots=64, clock=Clock())
    assert all(rates.take("u", None) == 0 for _ in range(1000))
    assert rates.take("z", 0) == 1


def test_keys_beyond_the_table_take_over_the_least_recently_used_slot() -> None:
    clock = Clock()
    rates = RateLimiter(slots=4, clock=clock)
    for n in range(50):
        clock.now += 0.001
        assert rates.take(f"k{n}", 1) == 0
    # The most recent key kept its bucket: it is empty now.
    assert rates.take("k49", 1) == 1


def test_worker_processes_forked_after_it_share_one_bucket() -> None:
    clock = Clock()  # frozen: no refill, so exactly the bucket's size may pass in total
    rates = RateLimiter(slots=1024, clock=clock)
    workers = 8
    readers = []
    for _ in range(workers):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # a worker: 10 requests of one account limited to 5 per second
            os.close(read)
            passed = sum(rates.take("account/api_rps", 5) == 0 for _ in range(10))
            os.write(write, bytes([passed]))
            os._exit(0)
        os.close(write)
        readers.append((pid, read))
    total = 0
    for pid, read in readers:
        total += os.read(read, 1)[0]
        os.close(read)
        os.waitpid(pid, 0)
    assert total == 5
