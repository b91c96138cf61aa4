import pytest

from sdserve.spec.errors import SpecError
from sdserve.spec.values import read_bool, read_duration, read_float, read_int


@pytest.mark.parametrize(("text", "seconds"), [
    ("60s", 60.0), ("1m", 60.0), ("6s", 6.0), ("1h", 3600.0), ("1m30s", 90.0),
    ("500ms", 0.5), ("1.5s", 1.5), ("0", 0.0), ("0s", 0.0), ("-2s", -2.0),
])
def test_read_duration_takes_go_durations(text, seconds):
    assert read_duration(text, "f") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["60", "1 m", "s", "", "1d", "abc", "1m30"])
def test_read_duration_rejects_other_spellings_naming_the_field(text):
    with pytest.raises(SpecError) as error:
        read_duration(text, "the-field")
    assert error.value.field == "the-field"
    assert str(error.value).startswith("the-field: ")


def test_read_int_and_float():
    assert read_int("10", "f") == 10
    assert read_float("0.7", "f") == 0.7
    for bad in ("ten", "1.5", "-1", str(2**31)):
        with pytest.raises(SpecError, match="integer >= 0"):
            read_int(bad, "f")
    for bad in ("x", "nan", "inf"):
        with pytest.raises(SpecError):
            read_float(bad, "f")


@pytest.mark.parametrize(("text", "value"), [("true", True), ("True", True), ("1", True),
                                             ("f", False), ("FALSE", False)])
def test_read_bool_takes_go_spellings(text, value):
    assert read_bool(text, "f") is value


def test_read_bool_rejects_others():
    with pytest.raises(SpecError, match="true or false"):
        read_bool("yes", "f")
