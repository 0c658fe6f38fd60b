from service.worker.leases import fair_share


def test_a_lone_worker_claims_up_to_its_capacity():
    assert fair_share(held=0, capacity=8, others=[]) == 8
    assert fair_share(held=3, capacity=8, others=[]) == 5


def test_a_worker_claims_one_past_the_least_busy_other_with_room():
    assert fair_share(held=0, capacity=8, others=[(0, 8), (5, 8)]) == 1
    assert fair_share(held=2, capacity=8, others=[(4, 8)]) == 3
    assert fair_share(held=3, capacity=8, others=[(1, 8)]) == 0


def test_full_workers_do_not_hold_the_others_back_and_capacity_still_caps():
    assert fair_share(held=4, capacity=8, others=[(2, 2)]) == 4
    assert fair_share(held=7, capacity=8, others=[(9, 16)]) == 1
