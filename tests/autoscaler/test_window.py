import math

import pytest

from sdserve.autoscaler.max_window import MaxWindow
from sdserve.autoscaler.window import TimedBuckets


def test_empty_window_reads_zero():
    assert TimedBuckets(60).window_average(100) == 0


def test_partial_window_averages_over_seconds_with_data():
    b = TimedBuckets(5)
    b.record(10.2, 2)
    b.record(11.9, 4)
    assert b.window_average(11.5) == 3  # two seconds of data, not five


def test_same_second_values_add_up():
    b = TimedBuckets(5)
    b.record(10.1, 1)
    b.record(10.8, 2)
    assert b.window_average(10.9) == 3


def test_seconds_after_the_last_write_shrink_the_window():
    b = TimedBuckets(5)
    for t in range(10, 15):
        b.record(t, 5)
    assert b.window_average(14) == 5
    # As Knative: the two silent seconds push old buckets out and are not
    # counted themselves, so the average is over the three seconds left.
    assert b.window_average(16) == 5
    b.record(16, 0)
    assert b.window_average(16) == pytest.approx(3)  # a written zero does count
    assert b.window_average(19) == 0  # a whole window without data


def test_full_window_slides():
    b = TimedBuckets(3)
    for t, v in enumerate([1, 2, 3, 4, 5]):
        b.record(t, v)
    assert b.window_average(4) == 4  # (3 + 4 + 5) / 3


def test_gap_longer_than_window_restarts():
    b = TimedBuckets(3)
    b.record(0, 9)
    b.record(10, 1)
    assert b.window_average(10) == 1


def test_late_write_within_window_counts_and_too_old_is_dropped():
    b = TimedBuckets(3)
    b.record(10, 3)
    b.record(9, 3)
    assert b.window_average(10) == 3
    b.record(5, 100)
    assert b.window_average(10) == 3


def test_fractional_panic_window_holds_one_bucket():
    b = TimedBuckets(0.6)
    b.record(3.5, 2)
    assert b.window_average(3.9) == 2
    assert b.window_average(4.0) == 0


def test_max_window_keeps_the_largest_recent_value():
    w = MaxWindow.of(10)  # five 2 s buckets
    assert w.current == 0
    w = w.record(0, 4).record(2, 1).record(4, 3)
    assert w.current == 4
    w = w.record(10, 1)  # the 4 slides out; 3 is the largest left
    assert w.current == 3
    w = w.record(14, 0)
    assert w.current == 1
    w = w.record(15, 0).record(21, 0)
    assert w.current == 0


def test_max_window_same_bucket_keeps_the_larger():
    w = MaxWindow.of(4).record(0, 5).record(1, 2)
    assert w.current == 5
    assert w.record(1.5, 7).current == 7


def test_values_that_left_the_window_leave_zero_not_minus_zero():
    """0.1 + 0.7 + 0.1 taken off again leaves -1e-17, which read as -0.0 on the dashboard."""
    window = TimedBuckets(3, 1.0)
    for now, value in enumerate([0.1, 0.7, 0.1, 0.0, 0.0, 0.0]):
        window.record(now, value)
    average = window.window_average(5.5)
    assert average == 0.0 and math.copysign(1.0, average) == 1.0
