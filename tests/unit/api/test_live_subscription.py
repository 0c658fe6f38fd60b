import asyncio

from service.api.live import Subscription, entry_id_key


def test_reset_empties_the_queue_and_clears_overflow():
    async def scenario() -> tuple[bool, int]:
        sub = Subscription("s", maxsize=2)
        sub.queue.put_nowait(("1-0", '{"id":"1-0"}'))
        sub.queue.put_nowait(("2-0", '{"id":"2-0"}'))
        sub.overflowed = True
        sub.reset()
        return sub.overflowed, sub.queue.qsize()

    assert asyncio.run(scenario()) == (False, 0)


def test_history_ids_compare_numerically():
    assert entry_id_key("1700000000000-10") > entry_id_key("1700000000000-9")
    assert entry_id_key("999-0") < entry_id_key("1000-0")
    assert entry_id_key("5") == (5, 0)
