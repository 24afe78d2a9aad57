"""Configurations, studies and spreads of crosstrain.experiments.train_study."""

import pytest

from crosstrain.experiments.train_study import STUDIES, Variant, spread, variant_config
from crosstrain.golden import config
from crosstrain.golden.config import ConfigError

CONFIGS = {"preset": config.load("panther"), "baseline": config.load("pipelayer")}


def test_spread_is_mean_sample_std_and_range():
    s = spread([1, 2, 6])
    assert s["mean"] == 3 and s["std"] == pytest.approx(((4 + 1 + 9) / 2) ** 0.5)
    assert (s["min"], s["max"], s["per_seed"]) == (1, 6, [1.0, 2.0, 6.0])
    assert spread([0.5])["std"] == 0.0


def test_precision_study_configurations_are_what_their_labels_say():
    for v in STUDIES["precision"]:
        v.check()
        cfg = variant_config(v, CONFIGS)
        p = cfg.precision
        wide = p.update_slices * cfg.device.bits_per_cell
        assert p.input_bits + p.error_bits - p.opa_shift <= wide       # the OPA fits its slices
        if "slices" in v.label and v.system == "panther":
            n = int(v.label.split()[0]) if v.label[0].isdigit() else 16
            assert p.update_slices == n and p.opa_shift == 32 - 2 * n
    labels = [v.label for v in STUDIES["precision"]]
    assert len(set(labels)) == len(labels)
    hetero = variant_config(next(v for v in STUDIES["precision"] if "8 x 6, 8 x 5" in v.label), CONFIGS)
    assert hetero.slice_bits == (6,) * 8 + (5,) * 8


@pytest.mark.parametrize("variant, needle", [
    (Variant("x", "gpu"), "configuration x: unknown system 'gpu'"),
    (Variant("x", "panther", settings=(("learning_rate", 1.0),)), "'learning_rate' is not a setting"),
])
def test_bad_variants(variant, needle):
    with pytest.raises(ConfigError, match=needle):
        variant.check()


def test_bad_override_names_the_configuration():
    with pytest.raises(ConfigError, match="configuration y: precision.opa_shift = -1"):
        variant_config(Variant("y", "panther", (("precision.opa_shift", -1),)), CONFIGS)
