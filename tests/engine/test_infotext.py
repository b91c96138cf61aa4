from sdserve.engine.infotext import format_infotext, parse_infotext

PARAMS = {
    "Prompt": "a photo of a cat",
    "Negative prompt": "blurry",
    "Steps": 20,
    "Sampler": "Euler a",
    "Schedule type": "Automatic",
    "CFG scale": "7",
    "Seed": 1234,
    "Size": "512x512",
    "Model hash": "6ce0161689",
    "Model": "v1-5-pruned-emaonly",
    "Version": "sdserve 0.1.0",
}

EXPECTED = (
    "a photo of a cat\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1234, "
    "Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: sdserve 0.1.0"
)


def test_format_matches_a1111():
    assert format_infotext(PARAMS) == EXPECTED


def test_no_negative_line_when_empty():
    text = format_infotext({**PARAMS, "Negative prompt": ""})
    assert "Negative prompt" not in text
    assert parse_infotext(text)["Negative prompt"] == ""


def test_round_trip():
    assert parse_infotext(format_infotext(PARAMS)) == {k: str(v) for k, v in PARAMS.items()}


def test_values_with_commas_are_quoted_and_round_trip():
    params = {**PARAMS, "Model": "my, model: v2", "Prompt": "line one\nline two"}
    text = format_infotext(params)
    assert 'Model: "my, model: v2"' in text
    assert parse_infotext(text) == {k: str(v) for k, v in params.items()}
