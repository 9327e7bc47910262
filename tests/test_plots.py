"""labkit.plots, with the Agg backend: what each figure holds, not just that it draws."""

from __future__ import annotations

import base64
from statistics import NormalDist

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

import labkit
from labkit.backend import keras

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


VAE_HISTORY = {
    "loss": [200.0, 180.0, 170.0],
    "reconstruction_loss": [195.0, 174.0, 163.0],
    "kl_loss": [5.0, 6.0, 7.0],
    "val_loss": [190.0, 176.0, 169.0],
    "val_reconstruction_loss": [186.0, 171.0, 162.0],
    "val_kl_loss": [4.0, 5.0, 7.0],
}


def test_history_has_one_panel_per_loss_and_tells_models_apart_by_more_than_colour():
    figure = labkit.plot_history({"VAE": VAE_HISTORY, "beta=4": VAE_HISTORY}, title="Two VAEs")
    assert figure._suptitle.get_text() == "Two VAEs"
    axes = figure.axes
    titles = [axis.get_title().removesuffix(" (epoch 1 above the top)") for axis in axes]
    assert titles == ["total loss", "reconstruction", "KL divergence"]
    assert all(axis.get_ylabel() == "nats per image" for axis in axes)
    assert all(axis.get_xlabel() == "epoch" for axis in axes)
    kl_lines = axes[2].get_lines()
    assert [line.get_label() for line in kl_lines] == [
        "VAE (train)",
        "VAE (val)",
        "beta=4 (train)",
        "beta=4 (val)",
    ]
    np.testing.assert_array_equal(kl_lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(kl_lines[0].get_ydata(), VAE_HISTORY["kl_loss"])
    vae_train, vae_val, beta_train, _ = figure.axes[0].get_lines()
    assert vae_train.get_linestyle() != beta_train.get_linestyle()
    assert vae_train.get_marker() != beta_train.get_marker()
    assert vae_val.get_linewidth() > vae_train.get_linewidth()  # validation drawn thick, hollow
    assert vae_val.get_markerfacecolor() == "white"
    # Each model's name is written at the end of its curves, not only in a legend.
    assert {"VAE", "beta=4"} <= {text.get_text() for text in figure.axes[0].texts}
    # The legend sits below the panels, off the curves.
    assert all(axis.get_legend() is None for axis in figure.axes)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[:2] == ["VAE", "beta=4"] and "validation" in legend


def test_history_is_scaled_to_the_epochs_where_models_differ():
    history = {"loss": [230.0, 160.0, 155.0, 152.0], "kl_loss": [2.0, 5.0, 6.0, 6.5]}
    figure = labkit.plot_history(
        {"A": history, "B": {k: [v + 1 for v in vs] for k, vs in history.items()}}
    )
    total, kl = figure.axes
    low, high = total.get_ylim()
    assert 145 < low < 152 and 156 < high < 170  # epoch 1 (230, 231) is off the scale ...
    assert total.get_title() == "total loss (epoch 1 above the top)"  # ... and said
    assert kl.get_ylim()[0] <= 0  # a KL is compared with 0


def test_history_of_a_training_that_diverged_still_draws():
    diverged = {"loss": [200.0, float("nan"), float("nan")], "kl_loss": [5.0, np.inf, np.nan]}
    figure = labkit.plot_history({"A": diverged, "B": VAE_HISTORY})
    assert len(figure.axes) == 3 and len(figure.axes[0].get_lines()) == 3  # A: no val_loss
    alone = labkit.plot_history({"A": {"loss": [float("nan")] * 3}})  # nothing finite at all
    assert alone.axes[0].get_lines()


def test_history_of_the_autoencoder_has_one_panel():
    figure = labkit.plot_history(
        {"autoencoder": {"loss": [0.05, 0.03], "val_loss": [0.04, 0.03]}},
        units="MSE per pixel",
        title="Autoencoder training",
    )
    assert len(figure.axes) == 1 and figure.axes[0].get_ylabel() == "MSE per pixel"
    assert figure.axes[0].get_title() == "loss"
    assert figure._suptitle.get_text() == "Autoencoder training"


def test_history_rejects_a_dict_without_loss():
    with pytest.raises(ValueError, match="'loss' list"):
        labkit.plot_history({"VAE": {"kl_loss": [1.0]}})


def test_image_rows_have_one_axis_per_image(mnist_subset):
    originals = mnist_subset["x_test"][:6]
    figure = labkit.plot_image_rows(
        {"original": originals, "autoencoder": originals * 0.5, "VAE": originals[:, ::-1]},
        title="Reconstructions",
    )
    assert len(figure.axes) == 18 and figure.get_suptitle() == "Reconstructions"
    labels = [figure.axes[index].get_ylabel() for index in (0, 6, 12)]
    assert labels == ["original", "autoencoder", "VAE"]
    shown = figure.axes[6].get_images()[0].get_array()
    assert shown.shape == (28, 28)
    np.testing.assert_allclose(shown, originals[0].reshape(28, 28) * 0.5)
    assert figure.axes[0].get_images()[0].get_cmap().name == "gray"


def test_image_rows_reject_bad_input():
    with pytest.raises(ValueError, match=r"shape \(n, 784\) or \(n, 28, 28\)"):
        labkit.plot_image_rows({"x": np.zeros((3, 100))}, title="t")
    with pytest.raises(ValueError, match="same, non-zero number"):
        labkit.plot_image_rows({"a": np.zeros((3, 784)), "b": np.zeros((2, 784))}, title="t")


def test_latent_space_scatter_colours_by_digit():
    latents = np.random.default_rng(0).normal(size=(50, 2))
    labels = np.arange(50) % 10
    figure = labkit.plot_latent_space({"AE": latents, "VAE": latents * 2}, labels)
    scatter_axes = [axis for axis in figure.axes if axis.collections]
    assert [axis.get_title() for axis in scatter_axes[:2]] == ["AE", "VAE"]
    order = np.random.default_rng(0).permutation(50)  # drawn shuffled: no digit hides another
    np.testing.assert_allclose(scatter_axes[1].collections[0].get_offsets(), latents[order] * 2)
    colours = matplotlib.colors.to_rgba_array(matplotlib.color_sequences["petroff10"])
    np.testing.assert_allclose(
        scatter_axes[0].collections[0].get_facecolors()[:, :3], colours[labels[order], :3]
    )
    assert scatter_axes[0].get_xlabel() == "z[0]"
    # Each digit written at the median of its codes; a legend of the ten digits, no colour bar.
    written = {text.get_text(): text.get_position() for text in scatter_axes[0].texts}
    assert sorted(written) == [str(digit) for digit in range(10)]
    np.testing.assert_allclose(written["3"], np.median(latents[labels == 3], axis=0))
    legend = figure.legends[0]
    assert legend.get_title().get_text() == "digit" and len(legend.get_texts()) == 10
    assert len(figure.axes) == 2
    assert scatter_axes[0].get_shared_x_axes().joined(scatter_axes[0], scatter_axes[1])


def test_digit_labels_at_the_same_place_are_moved_apart():
    latents = np.random.default_rng(0).normal(size=(300, 2))
    labels = np.arange(300) % 3  # three digits with (almost) the same median
    figure = labkit.plot_latent_space(latents, labels)
    places = np.array([text.get_position() for text in figure.axes[0].texts])
    distances = np.hypot(*(places[:, None, :] - places[None, :, :]).transpose(2, 0, 1))
    assert distances[np.triu_indices(3, 1)].min() >= 0.07 * np.ptp(latents, axis=0).max() - 1e-9


def test_latent_space_projects_larger_codes_on_principal_components():
    rng = np.random.default_rng(1)
    # 5-D codes that vary mostly along dimension 3, then dimension 0.
    latents = rng.normal(size=(500, 5)) * np.array([3.0, 0.1, 0.1, 10.0, 0.1])
    projection = labkit.plots.fit_projection(latents)
    assert abs(projection.components[0, 3]) > 0.99 and abs(projection.components[1, 0]) > 0.99
    assert projection.axis_labels[0].startswith("PC 1 (9")  # about 92% of the variance
    figure = labkit.plot_latent_space(latents, np.zeros(500, dtype=int))
    assert figure.axes[0].get_xlabel().startswith("PC 1")
    assert figure.axes[0].collections[0].get_offsets().shape == (500, 2)


def test_show_stores_the_description_beside_the_picture(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *args, **kwargs: shown.append(args))
    figure = labkit.plot_history({"VAE": VAE_HISTORY})
    labkit.show(figure, "Three panels of falling VAE losses over three epochs.")
    (bundle,) = shown[0]
    assert bundle["text/plain"] == "Three panels of falling VAE losses over three epochs."
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert not plt.fignum_exists(figure.number)  # closed: the inline backend will not repeat it
    with pytest.raises(ValueError, match="description must be a sentence"):
        labkit.show(plt.figure(), "<Figure>")


def test_manifold_grid_uses_normal_quantiles():
    grid = labkit.plots.manifold_grid(5, (0.1, 0.9))
    expected = [NormalDist().inv_cdf(q) for q in (0.1, 0.3, 0.5, 0.7, 0.9)]
    np.testing.assert_allclose(grid, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="0 < low < high < 1"):
        labkit.plots.manifold_grid(5, (0.0, 1.0))


def test_manifold_corners_decode_the_extreme_grid_points(trained_vae):
    vae, _ = trained_vae
    grid_size = 6
    figure = labkit.plot_manifold(vae, grid_size=grid_size)
    canvas = figure.axes[0].get_images()[0].get_array()
    assert canvas.shape == (28 * grid_size, 28 * grid_size)
    assert canvas.min() >= 0.0 and canvas.max() <= 1.0
    grid = labkit.plots.manifold_grid(grid_size)
    low, high = grid[0], grid[-1]
    corners = [  # (first row, first column) of the corner cell, and its latent point
        ((0, 0), (low, high)),  # top left: z[1] grows upwards
        ((0, -28), (high, high)),
        ((-28, 0), (low, low)),
        ((-28, -28), (high, low)),
    ]
    decoded = labkit.decode(vae, np.array([point for _, point in corners]))
    for ((row, column), _), image in zip(corners, decoded, strict=True):
        cell = canvas[row : row + 28 or None, column : column + 28 or None]
        np.testing.assert_allclose(cell, image.reshape(28, 28), atol=1e-5)
    assert figure.axes[0].get_xlabel() == "z[0]"
    assert "-1.64 to 1.64" in figure.axes[0].get_title()


def test_manifold_ticks_are_round_latent_values_at_their_place(trained_vae):
    vae, _ = trained_vae
    figure = labkit.plot_manifold(vae, grid_size=20)
    axis = figure.axes[0]
    labels = [tick.get_text() for tick in axis.get_xticklabels()]
    assert labels == ["-1.5", "-1", "-0.5", "0", "0.5", "1", "1.5"]
    assert [tick.get_text() for tick in axis.get_yticklabels()] == labels
    # z = 0 is the middle of the 20 cells (between cells 9 and 10): pixel 279.5 of 560.
    x_positions = dict(zip(labels, axis.get_xticks(), strict=True))
    y_positions = dict(zip(labels, axis.get_yticks(), strict=True))
    assert x_positions["0"] == pytest.approx(279.5) and y_positions["0"] == pytest.approx(279.5)
    # z[0] grows to the right, z[1] upwards (image rows count downwards)
    assert x_positions["-1.5"] < x_positions["1.5"] and y_positions["-1.5"] > y_positions["1.5"]


def test_learning_snapshots_picture_the_chosen_epochs(mnist_subset):
    labkit.seed_everything(0)
    vae = labkit.build_vae()
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    snapshots = labkit.LearningSnapshots(
        mnist_subset["x_test"][:5], epochs=(1, 3, 7), num_samples=4, seed=1
    )
    before = labkit.evaluation.reconstruct(vae, mnist_subset["x_test"][:5])
    vae.fit(
        mnist_subset["x_train"][:640], epochs=3, batch_size=64, callbacks=[snapshots], verbose=0
    )
    # Epoch 7 is never reached; the last picture is of the trained model.
    assert list(snapshots.snapshots) == ["before training", "after epoch 1", "after epoch 3"]
    reconstructions, samples = snapshots.snapshots["before training"]
    np.testing.assert_allclose(reconstructions, before, atol=1e-6)
    assert samples.shape == (4, 784)
    final_reconstructions, final_samples = snapshots.snapshots["after epoch 3"]
    np.testing.assert_allclose(
        final_reconstructions,
        labkit.evaluation.reconstruct(vae, mnist_subset["x_test"][:5]),
        atol=1e-6,
    )
    codes = np.random.default_rng(1).standard_normal((4, 2))
    np.testing.assert_allclose(final_samples, labkit.decode(vae, codes), atol=1e-6)
    figure = snapshots.plot()
    image_axes = [axis for axis in figure.axes if axis.get_images()]
    assert len(image_axes) == 5 + 3 * (5 + 4)  # the originals, then 3 pictures of 9 images
    assert [axis.get_ylabel() for axis in figure.axes[:: 5 + 1 + 4]] == [
        "original",
        "before training",
        "after epoch 1",
        "after epoch 3",
    ]


def test_learning_snapshots_of_an_autoencoder_without_samples(mnist_subset):
    autoencoder = labkit.build_autoencoder(latent_dim=2)
    autoencoder.compile(optimizer="adam", loss="mse")
    snapshots = labkit.LearningSnapshots(mnist_subset["x_test"][:3], epochs=(1,), num_samples=0)
    with pytest.raises(ValueError, match="no snapshots yet"):
        snapshots.plot()
    x = mnist_subset["x_train"][:128]
    autoencoder.fit(x, x, epochs=1, batch_size=64, callbacks=[snapshots], verbose=0)
    assert [samples.shape for _, samples in snapshots.snapshots.values()] == [(0, 784)] * 2
    assert len([axis for axis in snapshots.plot().axes if axis.get_images()]) == 3 * 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"images": np.zeros((0, 784)), "epochs": (1,)}, "non-empty array"),
        ({"images": np.zeros((2, 784)), "epochs": ()}, "epoch numbers counted from 1"),
        ({"images": np.zeros((2, 784)), "epochs": (0, 2)}, "epoch numbers counted from 1"),
        ({"images": np.zeros((2, 784)), "epochs": (1,), "num_samples": -1}, "non-negative integer"),
    ],
)
def test_learning_snapshots_reject_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        labkit.LearningSnapshots(**arguments)


def test_manifold_needs_a_2d_latent_space():
    with pytest.raises(ValueError, match="needs a 2-D latent space; this model's is 3-D"):
        labkit.plot_manifold(labkit.build_vae(latent_dim=3))


def test_samples_are_seeded_images(trained_vae):
    vae, _ = trained_vae
    samples = labkit.sample_images(vae, 8, seed=0)
    assert samples.shape == (8, 784) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, labkit.sample_images(vae, 8, seed=0))


def test_autoencoder_samples_from_a_fitted_gaussian():
    labkit.seed_everything(0)
    autoencoder = labkit.build_autoencoder(latent_dim=2)
    codes = np.random.default_rng(0).normal(loc=[50.0, -20.0], scale=0.01, size=(100, 2))
    samples = labkit.sample_images(autoencoder, 3, seed=1, fitted_latents=codes)
    # The fitted Gaussian is narrow around (50, -20): samples decode like that point.
    at_mean = labkit.decode(autoencoder, np.tile([[50.0, -20.0]], (3, 1)))
    np.testing.assert_allclose(samples, at_mean, atol=0.02)
    with pytest.raises(ValueError, match=r"fitted_latents must have shape \(n, 2\)"):
        labkit.sample_images(autoencoder, 3, seed=1, fitted_latents=np.zeros((5, 3)))


def test_lab_style_is_applied_by_one_call():
    labkit.use_lab_style()
    assert matplotlib.rcParams["image.cmap"] == "gray"
    assert matplotlib.rcParams["figure.dpi"] >= 100  # readable on a laptop screen


def test_manifolds_side_by_side_decode_the_same_grid(trained_vae):
    vae, _ = trained_vae
    other = labkit.build_vae()  # untrained: draws something else at the same points
    figure = labkit.plot_manifold({"trained": vae, "untrained": other}, grid_size=4)
    assert [axis.get_title() for axis in figure.axes] == ["trained", "untrained"]
    canvases = [axis.get_images()[0].get_array() for axis in figure.axes]
    single = labkit.plot_manifold(vae, grid_size=4).axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(canvases[0], single)
    assert not np.allclose(canvases[0], canvases[1])
    assert "-1.64 to 1.64" in figure.get_suptitle()
    plt.close("all")
    with pytest.raises(ValueError, match="needs a 2-D latent space; wide's is 3-D"):
        labkit.plot_manifold({"fine": vae, "wide": labkit.build_vae(latent_dim=3)})
