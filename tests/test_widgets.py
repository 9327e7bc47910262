"""labkit.widgets: callbacks redraw the digit; bad input is refused with a clear message."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

import labkit


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


@pytest.fixture(scope="module")
def explorer(trained_vae, mnist_subset):
    vae, _ = trained_vae
    return labkit.LatentExplorer(vae, mnist_subset["x_test"][:500], mnist_subset["y_test"][:500])


def test_explorer_has_one_slider_per_latent_dimension(explorer):
    assert [slider.description for slider in explorer.sliders] == ["z[0]", "z[1]"]
    assert explorer.sliders[0].min == -3.0 and explorer.sliders[0].max == 3.0


def test_moving_a_slider_redraws_the_decoded_digit(explorer, trained_vae):
    vae, _ = trained_vae
    explorer.set_point([0.0, 0.0])
    before_digit, before_position = explorer.digit_view.value, explorer.position_view.value
    explorer.sliders[0].value = 2.0  # as a student dragging the slider
    assert explorer.digit_view.value != before_digit
    assert explorer.position_view.value != before_position
    shown = _pixels(explorer.digit_view.value)[::6, ::6, 0] / 255.0  # back to 28 x 28
    expected = labkit.decode(vae, np.array([[2.0, 0.0]]))[0].reshape(28, 28)
    np.testing.assert_allclose(shown, expected, atol=1 / 255 + 1e-6)


def test_marker_follows_the_point(explorer):
    def marker_column(point) -> float:
        explorer.set_point(point)
        changed = np.any(_pixels(explorer.position_view.value) != explorer._scatter_pixels, axis=2)
        return float(np.argwhere(changed)[:, 1].mean())

    assert marker_column([-1.0, 0.0]) + 20 < marker_column([1.0, 0.0])  # pixels further right


def test_set_point_rejects_wrong_dimension_and_range(explorer):
    with pytest.raises(ValueError, match="point must have 2 values"):
        explorer.set_point([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"must lie in \[-3.0, 3.0\]"):
        explorer.set_point([0.0, 4.0])
    assert explorer.digit is None and explorer.digit_picker is None  # a plain VAE: no digit
    with pytest.raises(ValueError, match="no digit to pick"):
        explorer.set_digit(3)


def test_update_is_fast(explorer):
    durations = []
    for value in np.linspace(-2, 2, 15):
        started = time.perf_counter()
        explorer.sliders[1].value = float(value)
        durations.append(time.perf_counter() - started)
    # Generous bound for a shared CI machine; the docs quote the measured median.
    assert np.median(durations) < 0.1


def test_saved_output_carries_a_png_snapshot_and_a_description(explorer):
    explorer.set_point([0.5, -1.0])
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    snapshot = _pixels(bundle["image/png"])
    assert snapshot.shape[0] >= 168 and snapshot.shape[1] > 168 * 2
    assert bundle["text/plain"].startswith(
        "Latent explorer: the digit decoded at z = (0.50, -1.00)"
    )


def test_explorer_on_a_larger_latent_space_uses_pca(mnist_subset):
    labkit.seed_everything(0)
    vae = labkit.build_vae(latent_dim=4)
    explorer = labkit.LatentExplorer(
        vae, mnist_subset["x_test"][:200], mnist_subset["y_test"][:200]
    )
    assert len(explorer.sliders) == 4
    assert explorer.projection.axis_labels[0].startswith("PC 1")


def test_interpolation_widget_slides_between_two_digits(trained_vae, mnist_subset):
    vae, _ = trained_vae
    labkit.seed_everything(0)
    autoencoder = labkit.build_autoencoder(latent_dim=2)
    images = mnist_subset["x_test"][:20]
    widget = labkit.InterpolationExplorer({"autoencoder": autoencoder, "VAE": vae}, images)
    assert set(widget.views) == {"autoencoder", "VAE"}
    widget.set_pair(3, 7)
    start = widget.views["VAE"].value
    np.testing.assert_allclose(
        widget.decoded()["VAE"], labkit.evaluation.reconstruct(vae, images[[3]])[0], atol=1e-5
    )
    widget.mix_slider.value = 1.0
    assert widget.views["VAE"].value != start
    np.testing.assert_allclose(
        widget.decoded()["VAE"], labkit.evaluation.reconstruct(vae, images[[7]])[0], atol=1e-5
    )
    widget.end_picker.value = 9  # picking a new digit re-encodes it
    np.testing.assert_allclose(
        widget.decoded()["VAE"], labkit.evaluation.reconstruct(vae, images[[9]])[0], atol=1e-5
    )


def test_interpolation_widget_rejects_bad_indices(trained_vae, mnist_subset):
    vae, _ = trained_vae
    widget = labkit.InterpolationExplorer({"VAE": vae}, mnist_subset["x_test"][:20])
    with pytest.raises(ValueError, match=r"end_index must be between 0 and 19\. Received: 20"):
        widget.set_pair(0, 20)
    with pytest.raises(ValueError, match="models is empty"):
        labkit.InterpolationExplorer({}, mnist_subset["x_test"][:20])


def test_snapshots_say_what_they_show(trained_vae, mnist_subset):
    vae, _ = trained_vae
    explorer = labkit.LatentExplorer(
        vae, mnist_subset["x_test"][:200], mnist_subset["y_test"][:200]
    )
    # The scatter behind the marker has a legend of the digits beside it.
    assert explorer._scatter_pixels.shape[1] == 440  # 4.4 inches at 100 dpi
    widget = labkit.InterpolationExplorer({"autoencoder": vae, "VAE": vae}, mnist_subset["x_test"])
    widget.set_pair(3, 5)
    snapshot = widget.snapshot()
    # The whole path, whatever t the slider shows: one captioned row of five digits per model.
    steps, band, digit = len(labkit.widgets.PATH_STEPS), 16, 84
    assert snapshot.shape[0] == 2 * (band + band + digit) + 6
    assert snapshot.shape[1] == steps * (digit + 8)
    caption = snapshot[band : 2 * band, :digit]
    assert caption.max() == 255 and caption.min() < 100
    assert np.all(snapshot[band : 2 * band, digit : digit + 8] == 255)  # gap between pictures
    np.testing.assert_array_equal(
        snapshot[2 * band :][:digit, :digit, 0],
        labkit.widgets._digit_pixels(
            labkit.evaluation.reconstruct(vae, mnist_subset["x_test"][3:4])[0], 84
        )[:, :, 0],
    )
    text = widget._repr_mimebundle_()["text/plain"]
    assert text.startswith("Interpolation explorer: decodings at t = 0, 0.25")
    assert "from the code of test image 3 to that of test image 5" in text
    assert "(autoencoder, VAE)" in text


# --- LatentExplorer(digit=): a conditional VAE's digit, then its style --------------------------


@pytest.fixture(scope="module")
def conditional_explorer(conditional_vae, mnist_subset):
    cvae, _ = conditional_vae
    images, labels = mnist_subset["x_test"][:300], mnist_subset["y_test"][:300]
    return labkit.LatentExplorer(cvae, images, labels, digit=7)


def test_conditional_explorer_draws_the_chosen_digit_at_the_point(
    conditional_explorer, conditional_vae
):
    cvae, _ = conditional_vae
    explorer = conditional_explorer
    assert list(explorer.digit_picker.options) == list(range(10)) and explorer.digit == 7
    explorer.set_point([0.5, -0.5])
    seven = explorer.digit_view.value
    explorer.digit_picker.value = 2  # as a student clicking the button
    assert explorer.digit == 2 and explorer.digit_view.value != seven
    shown = _pixels(explorer.digit_view.value)[::6, ::6, 0] / 255.0
    expected = labkit.decode(cvae, np.array([[0.5, -0.5]]), labels=2)[0].reshape(28, 28)
    np.testing.assert_allclose(shown, expected, atol=1 / 255 + 1e-6)
    explorer.set_digit(7)
    assert explorer.digit_view.value == seven


def test_conditional_explorer_scatters_the_conditional_codes(conditional_explorer, mnist_subset):
    explorer = conditional_explorer
    codes = labkit.encode(
        explorer.model, mnist_subset["x_test"][:300], labels=mnist_subset["y_test"][:300]
    )
    np.testing.assert_allclose(explorer.projection(codes), codes, atol=1e-6)  # 2-D: as they are
    before = explorer.position_view.value
    explorer.sliders[1].value = 1.5
    assert explorer.position_view.value != before


def test_conditional_explorer_refuses_a_digit_that_does_not_exist(conditional_explorer):
    for digit in (10, -1, 2.5, True):
        with pytest.raises(ValueError, match="digit must be one of 0 to 9"):
            conditional_explorer.set_digit(digit)


def test_conditional_snapshot_names_the_digit(conditional_explorer):
    conditional_explorer.set_digit(4)
    bundle = conditional_explorer._repr_mimebundle_()
    snapshot = _pixels(bundle["image/png"])
    assert snapshot.shape[0] > labkit.widgets.DIGIT_DISPLAY_PIXELS  # caption band above
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Conditional explorer: the digit 4 decoded")
