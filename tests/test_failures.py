import pytest

from mmsearch_gym.core.failures import FatalTracker, fatal_turn

E, O = True, False


@pytest.mark.parametrize(
    "errors, answered, expected",
    [
        ([E, E, O, E, E, E], False, 3),  # the pinned case from the issue
        ([E, E, E], False, 0),  # fatal at 0: the algorithms drop such samples
        ([O, E, E, E, E, O], False, 1),  # the first run counts, not the longest
        ([E, O, E, O, E, O, O], True, None),  # single errors reset the count
        ([O, O, E, O], False, 4),  # unanswered without a cascade: all turns kept
        ([O, O, O], True, None),
        ([], False, 0),
    ],
)
def test_fatal_index(errors, answered, expected):
    assert fatal_turn(errors, answered) == expected


def test_fatal_index_with_other_k():
    assert fatal_turn([E, E, O, E, E], answered=False, k=2) == 0
    assert fatal_turn([E, O, E], answered=True, k=1) == 0
    with pytest.raises(ValueError):
        fatal_turn([E], answered=False, k=0)


def test_tracker_matches_the_pure_function():
    errors = [E, E, O, E, E, E]
    tracker = FatalTracker(3)
    fired = [tracker.update(t, e) for t, e in enumerate(errors)]
    assert fired == [False] * 5 + [True]
    assert tracker.fatal_turn == fatal_turn(errors, answered=False) == 3
    with pytest.raises(ValueError, match="fatal_k"):
        FatalTracker(0)
