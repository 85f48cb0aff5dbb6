"""Scales are parsed once and mean the same in every command."""

from __future__ import annotations

import pytest

from asag.errors import AsagError, ScaleError
from asag.scale import Scale


@pytest.mark.parametrize("spec,values", [
    ("0-5", [0, 1, 2, 3, 4, 5]),
    ("0-2 step 0.5", [0, 0.5, 1, 1.5, 2]),
    ("0-2:0.5", [0, 0.5, 1, 1.5, 2]),
    ("incorrect, partially_correct ,correct", ["incorrect", "partially_correct", "correct"]),
])
def test_specs_parse_to_their_values(spec, values):
    assert Scale.parse(spec).values == values


def test_canonical_spec_is_stable():
    assert Scale.parse("0 - 10 step 0.5").spec == "0-10 step 0.5"
    assert Scale.parse("0-2:1").spec == "0-2"


@pytest.mark.parametrize("spec", ["5-0", "0-5 step 2", "correct", "a,a", "0-5 step 0"])
def test_unusable_specs_are_rejected_with_an_example(spec):
    with pytest.raises(ScaleError, match="0-5") as caught:
        Scale.parse(spec)
    # Python callers catch the project's error or a plain ValueError, never a Click class
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, AsagError)


def test_coerce_accepts_values_on_the_scale_and_names_what_is_wrong():
    half = Scale.parse("0-5 step 0.5")
    assert half.coerce("2,5") == 2.5 and half.coerce(3) == 3
    with pytest.raises(ValueError, match="outside the scale 0-5 step 0.5"):
        half.coerce("6")
    with pytest.raises(ValueError, match="not a step of 0.5"):
        half.coerce("2.25")
    labels = Scale.parse("incorrect,correct")
    with pytest.raises(ValueError, match="is not one of incorrect, correct"):
        labels.coerce("Correct")


def test_regression_targets_round_trip_and_aggregates_between_steps_are_allowed():
    scale = Scale.parse("0-5")
    assert scale.to_unit(2.5) == 0.5  # a median of two teachers
    assert scale.from_unit(scale.to_unit(4)) == 4
    assert scale.from_unit(1.3) == 5 and scale.from_unit(-0.2) == 0
    assert scale.index(3) == 3 and Scale.parse("a,b,c").index("c") == 2


@pytest.mark.parametrize("spec,count", [
    ("0-100000", "100,001"), ("0-5 step 0.00001", "500,001"),
    ("0-5 step 0.0000001", "50,000,001"), (",".join(f"level{i}" for i in range(102)), "102")])
def test_scales_of_more_than_101_values_are_refused_naming_the_limit(spec, count):
    with pytest.raises(ScaleError) as caught:
        Scale.parse(spec)
    assert str(caught.value) == (
        f"'{spec}' has {count} values; a scale has at most 101 "
        "(one choice per value on the teacher's screen): use a coarser step, e.g. '0-100' or "
        "'0-10 step 0.5'")


@pytest.mark.parametrize("spec", ["0-100", "0-10 step 0.1", "0-1 step 0.01", "-50-50"])
def test_scales_of_up_to_101_values_are_accepted(spec):
    assert len(Scale.parse(spec).values) == 101


@pytest.mark.parametrize("spec,message", [
    ("0-" + "9" * 400, "is not a usable range"),
    ("0-0.00001 step 0.0000001", "needs more than 6 decimal places"),
    ("100000000000000000-100000000000000100", "a float cannot tell apart"),
])
def test_ranges_a_float_cannot_hold_are_refused_in_one_line(spec, message):
    with pytest.raises(ScaleError, match=message):
        Scale.parse(spec)


def test_same_as_compares_canonical_specs_and_manifest_strings():
    scale = Scale.parse("0-5")
    assert scale.same_as(Scale.parse("0 - 5")) and scale.same_as("0-5:1")
    assert not scale.same_as("0-10") and not scale.same_as(Scale.parse("a,b"))
    assert not scale.same_as("not a scale")  # a damaged manifest's spec is another scale
    assert Scale.parse("incorrect, correct").same_as("incorrect,correct")


def test_nearest_step_and_index_round_to_the_closest_step_and_clip_to_the_scale():
    import numpy as np

    half = Scale.parse("0-2 step 0.5")
    assert [half.nearest_index(v) for v in (0.2, 0.3, 1.74, -1, 9)] == [0, 1, 3, 0, 4]
    assert [half.nearest_step(v) for v in (0.2, 0.3, 1.74, -1, 9)] == [0, 0.5, 1.5, 0, 2]
    assert half.nearest_step(0.1 + 0.2) == 0.5  # a value on the scale, not 0.30000000000000004
    values = np.array([0.2, 0.3, 1.74, -1, 9])
    assert half.nearest_index(values).tolist() == [0, 1, 3, 0, 4]
    assert half.nearest_step(values).tolist() == [0, 0.5, 1.5, 0, 2]
    assert half.nearest_index(np.float64(0.3)) == 1 and half.nearest_step(np.float64(2.2)) == 2
    assert half.at(np.array([0, 3, np.nan]))[:2].tolist() == [0, 1.5]
    assert np.isnan(half.at(np.array([np.nan]))[0]) and half.at(4) == 2


@pytest.mark.parametrize("spec,low,high,max_gap,far", [
    ("0-5", 1, 2, 1, False), ("0-5", 1, 3, 1, True),  # numeric: scale units
    ("0-2 step 0.5", 0, 2, 1, False), ("0-2 step 0.5", 0, 3, 1, True),  # steps of 0.5
    ("a,b,c", 0, 1, 1, False), ("a,b,c", 0, 2, 1, True),  # labels: positions
])
def test_too_far_apart_measures_the_gap_in_scale_units(spec, low, high, max_gap, far):
    import numpy as np

    scale = Scale.parse(spec)
    assert scale.too_far_apart(low, high, max_gap) is far
    assert scale.too_far_apart(np.array([low]), np.array([high]), max_gap).tolist() == [far]
    assert scale.gap(low, high) == (high - low) * (scale.step if scale.is_numeric else 1)
