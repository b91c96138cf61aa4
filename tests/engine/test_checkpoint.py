import pytest

from sdserve.engine import ModelLoadError
from sdserve.engine.checkpoint import detect_architecture


def test_detects_sd1_and_sdxl_from_keys():
    sd1 = ["model.diffusion_model.input_blocks.0.0.weight",
           "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"]
    sdxl = ["model.diffusion_model.input_blocks.0.0.weight",
            "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight",
            "conditioner.embedders.1.model.positional_embedding"]
    assert detect_architecture(sd1) == "sd1"
    assert detect_architecture(sdxl) == "sdxl"


@pytest.mark.parametrize("keys", [["cond_stage_model.model.positional_embedding"], ["foo"]])
def test_unsupported_checkpoints_are_clear_errors(keys):
    with pytest.raises(ModelLoadError):
        detect_architecture(keys)
