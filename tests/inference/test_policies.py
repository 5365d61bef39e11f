import pytest

from dff.inference.policies import Decision, FixedPolicy, build_policy


def test_fixed_policy():
    p = FixedPolicy(3)
    assert [p.decide(None) is Decision.KEY for _ in range(7)] == [False, False, True, False, False, True, False]
    p.reset()
    assert [p.decide(None) for _ in range(3)] == [Decision.PROPAGATE, Decision.PROPAGATE, Decision.KEY]


def test_unknown_policy_and_bad_interval_are_refused():
    with pytest.raises(ValueError, match="unknown key-frame policy 'probe'; valid: fixed"):
        build_policy("probe", 5)
    with pytest.raises(ValueError, match="key_interval must be >= 1"):
        FixedPolicy(0)
