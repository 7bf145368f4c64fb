"""Bad input raises clear errors at trace time, the same way for every loss."""

import jax
import numpy as np
import pytest

import jaxtopo

LOSSES_2D_ONLY = [jaxtopo.bce_loss, jaxtopo.bce_with_logits_loss, jaxtopo.soft_dice_loss, jaxtopo.sat_loss,
                  jaxtopo.wasserstein_loss, jaxtopo.he_loss, jaxtopo.tc_loss, jaxtopo.topological_loss,
                  jaxtopo.betti_matching_loss]
LOSSES_2D_AND_3D = [jaxtopo.soft_cldice_loss, jaxtopo.dice_cldice_loss]
LOSSES = LOSSES_2D_ONLY + LOSSES_2D_AND_3D


@pytest.mark.parametrize("fn", LOSSES)
def test_mismatched_shapes_name_both(fn):
    with pytest.raises(ValueError, match=r"\(2, 4, 5\).*\(2, 5, 4\)"):
        fn(np.zeros((2, 4, 5), np.float32), np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 4, 5\).*\(2, 5, 4\)"):
        jax.jit(fn)(np.zeros((2, 4, 5), np.float32), np.zeros((2, 5, 4), np.float32))


@pytest.mark.parametrize("fn", LOSSES)
def test_integer_predictions_raise_type_error(fn):
    with pytest.raises(TypeError, match="floating"):
        fn(np.zeros((2, 4, 4), np.int32), np.zeros((2, 4, 4), np.float32))


@pytest.mark.parametrize("fn", LOSSES)
def test_rank_two_input_raises(fn):
    with pytest.raises(ValueError, match="rank 2"):
        fn(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("shape", [(2, 3, 4, 4, 1), (2, 3, 4, 4)])
@pytest.mark.parametrize("fn", LOSSES_2D_ONLY)
def test_volume_input_to_2d_loss_raises(fn, shape):
    with pytest.raises(ValueError, match="2D-only"):
        fn(np.zeros(shape, np.float32), np.zeros(shape, np.float32))


@pytest.mark.parametrize("shape", [(2, 3, 4, 4, 1), (2, 3, 4, 4)])
@pytest.mark.parametrize("fn", LOSSES_2D_AND_3D)
def test_volume_input_without_spatial_dims_says_to_pass_it(fn, shape):
    volume = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=r"pass spatial_dims=3\)") as info:
        fn(volume, volume)
    assert "2D-only" not in str(info.value)
    assert np.isfinite(float(fn(volume, volume, spatial_dims=3)))


def test_soft_skeleton_of_a_volume_without_spatial_dims_says_to_pass_it():
    with pytest.raises(ValueError, match=r"pass spatial_dims=3\)"):
        jaxtopo.soft_skeleton(np.zeros((2, 3, 4, 4, 1), np.float32), 2)


@pytest.mark.parametrize("fn", LOSSES)
def test_unknown_reduction_raises(fn):
    with pytest.raises(ValueError, match="reduction"):
        fn(np.zeros((2, 4, 4), np.float32), np.zeros((2, 4, 4), np.float32), reduction="avg")
