import threading

from service.worker.queue import FrameQueue


def test_live_queue_drops_oldest_and_counts():
    queue: FrameQueue[int] = FrameQueue(2, drop_oldest=True)
    stop = threading.Event()
    for i in range(5):
        queue.put(i, stop)
    assert queue.dropped == 3
    assert [queue.get_nowait(), queue.get_nowait(), queue.get_nowait()] == [3, 4, None]


def test_file_queue_waits_for_room_instead_of_dropping():
    queue: FrameQueue[int] = FrameQueue(1, drop_oldest=False)
    stop = threading.Event()
    queue.put(1, stop)
    producer = threading.Thread(target=queue.put, args=(2, stop))
    producer.start()
    producer.join(timeout=0.3)
    assert producer.is_alive()  # blocked: no room
    assert queue.get_nowait() == 1
    producer.join(timeout=2)
    assert not producer.is_alive()
    assert queue.get_nowait() == 2
    assert queue.dropped == 0


def test_blocked_put_returns_when_stopped():
    queue: FrameQueue[int] = FrameQueue(1, drop_oldest=False)
    stop = threading.Event()
    queue.put(1, stop)
    producer = threading.Thread(target=queue.put, args=(2, stop))
    producer.start()
    stop.set()
    producer.join(timeout=2)
    assert not producer.is_alive()
    assert len(queue) == 1
