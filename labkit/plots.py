"""The lab's figures in one style; each returns its Figure, which :func:`show` displays."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from labkit.backend import keras
from labkit.config import IMAGE_SHAPE, NUM_CLASSES, _check_integer
from labkit.evaluation import decode, reconstruct
from labkit.models import latent_size


def use_lab_style() -> None:
    """Apply the kit's matplotlib style (sizes, grey digits, grids) to the figures drawn next."""
    mpl.rcParams.update(
        {
            "figure.figsize": (8.0, 4.0),
            "figure.dpi": 100,  # sharp on a laptop screen, a notebook still under 3 MB
            "savefig.dpi": 100,
            "image.cmap": "gray",
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.titlesize": 12,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 10,
            "figure.constrained_layout.use": True,
        }
    )


# Petroff's ten colours stay apart under colour-vision deficiencies; nothing relies on colour alone.
COLORS = tuple(mpl.color_sequences["petroff10"])  # one per digit, or per model
SMALL_TEXT = 10  # points: the smallest text in a figure
HISTORY_METRICS = dict(
    loss="total loss", reconstruction_loss="reconstruction", kl_loss="KL divergence"
)


def show(figure: Figure, description: str) -> None:
    """Display ``figure`` with ``description``, a sentence of four words or more, then close it."""
    if not isinstance(description, str) or len(description.split()) < 4:
        raise ValueError(
            "description must be a sentence saying what the figure shows, for readers who "
            f"cannot see it. Received: {description!r}."
        )
    from IPython.core.pylabtools import print_figure
    from IPython.display import display

    png = base64.b64encode(print_figure(figure, "png", bbox_inches="tight")).decode("ascii")
    plt.close(figure)
    display({"image/png": png, "text/plain": description}, raw=True)


def plot_history(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    units: str = "nats per image",
    title: str = "Training history",
) -> Figure:
    """Loss per epoch of each model, ``{name: History.history}``, one panel per logged loss, the
    y axis in ``units`` and scaled to epochs 2 onwards."""
    if not histories or not all("loss" in history for history in histories.values()):
        raise ValueError(
            "histories must map each model's name to a Keras History.history dict with a 'loss' "
            f"list. Received keys: {[sorted(h) for h in histories.values()]}."
        )
    metrics = [m for m in HISTORY_METRICS if any(m in history for history in histories.values())]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.6), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        curves = []  # (model index, values) of every curve drawn
        for index, (name, history) in enumerate(histories.items()):
            for key, split in ((metric, "train"), (f"val_{metric}", "val")):
                if key in history:
                    values = np.asarray(history[key], dtype=float)
                    style = _model_style(index, validation=split == "val")
                    axis.plot(
                        np.arange(1, len(values) + 1), values, **style, label=f"{name} ({split})"
                    )
                    curves.append((index, values))
        panel_title = HISTORY_METRICS[metric] if len(metrics) > 1 else "loss"
        axis.set(title=panel_title, xlabel="epoch", ylabel=units)
        axis.xaxis.get_major_locator().set_params(integer=True)
        _scale_to_later_epochs(axis, curves, from_zero=metric == "kl_loss")
        if len(histories) > 1:
            _label_curve_ends(axis, list(histories), curves)
    grey = {"color": "0.3", "marker": "o", "markersize": 4}
    handles = [
        *(Line2D([], [], **_model_style(i), label=name) for i, name in enumerate(histories)),
        Line2D([], [], linewidth=1.0, **grey, label="training (thin, filled)"),
        Line2D([], [], linewidth=2.0, markerfacecolor="white", **grey, label="validation"),
    ]
    ncols = len(histories) + 2
    figure.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize=SMALL_TEXT)
    figure.suptitle(title)
    return figure


def _model_style(index: int, *, validation: bool = False) -> dict:
    color = COLORS[index % len(COLORS)]
    return {
        "color": color,
        "linestyle": ("-", "--", ":", "-.")[index % 4],
        "marker": ("o", "s", "^", "D", "v", "P")[index % 6],
        "markersize": 4,
        "linewidth": 2.0 if validation else 1.0,
        "markerfacecolor": "white" if validation else color,
    }


def _scale_to_later_epochs(axis, curves: list[tuple[int, np.ndarray]], *, from_zero: bool) -> None:
    """y limits from epoch 2 on (epoch 1 is often far above the rest); the title says if cut."""
    later = np.concatenate([values[1:] if len(values) > 2 else values for _, values in curves])
    later = later[np.isfinite(later)]
    if later.size == 0:  # a training that diverged: let matplotlib scale what there is
        return
    low, high = float(later.min()), float(later.max())
    low = min(0.0, low) if from_zero else low
    pad = 0.08 * (high - low or abs(high) or 1.0)
    axis.set_ylim(low - pad, high + pad)
    if any(values[0] > high + pad for _, values in curves):
        axis.set_title(f"{axis.get_title()} (epoch 1 above the top)")


def _label_curve_ends(axis, model_names: list[str], curves: list[tuple[int, np.ndarray]]) -> None:
    """Each model's name at the end of its last curve, pushed apart so that none overlap."""
    ends = {index: np.nan_to_num(values) for index, values in curves}  # validation wins
    low, high = axis.get_ylim()
    gap = 0.09 * (high - low)
    placed: list[tuple[float, int]] = []
    for y, index in sorted((float(np.clip(v[-1], low, high)), i) for i, v in ends.items()):
        placed.append((max(y, placed[-1][0] + gap) if placed else y, index))
    overflow = max(placed[-1][0] - (high - gap / 2), 0.0) if placed else 0.0
    last_epoch = max(len(values) for values in ends.values())
    halo = [patheffects.withStroke(linewidth=2, foreground="white")]
    style = {"fontsize": SMALL_TEXT, "va": "center", "path_effects": halo}
    for y, index in placed:
        color = COLORS[index % len(COLORS)]
        axis.text(last_epoch + 0.25, y - overflow, model_names[index], color=color, **style)
    axis.set_xlim(0.5, last_epoch + 0.25 + 0.4 * last_epoch)


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.shape[1:] in ((IMAGE_SHAPE[0] * IMAGE_SHAPE[1],), IMAGE_SHAPE):
        return images.reshape(-1, *IMAGE_SHAPE)
    raise ValueError(
        f"images must have shape (n, 784) or (n, 28, 28). Received: shape {images.shape}."
    )


def _draw_row(row_axes, label: str, pictures) -> None:
    """28x28 digits (None: a blank) along ``row_axes``, without ticks or grid, ``label`` left."""
    for axis, picture in zip(row_axes, pictures, strict=True):
        if picture is None:
            axis.axis("off")
            continue
        axis.imshow(picture, cmap="gray", vmin=0.0, vmax=1.0)
        axis.set(xticks=[], yticks=[])
        axis.grid(False)
    row_axes[0].set_ylabel(label, rotation=0, ha="right", va="center")


def plot_image_rows(
    rows: Mapping[str, np.ndarray], *, title: str, column_titles: Sequence[str] | None = None
) -> Figure:
    """Rows of digits, ``{row label: images (n, 784) or (n, 28, 28)}``, ``column_titles`` above."""
    if not rows:
        raise ValueError("rows is empty: pass at least one row of images.")
    images_by_row = {label: _as_images(images) for label, images in rows.items()}
    lengths = {label: len(images) for label, images in images_by_row.items()}
    num_columns = next(iter(lengths.values()))
    if set(lengths.values()) != {num_columns} or num_columns == 0:
        raise ValueError(
            f"every row needs the same, non-zero number of images. Received: {lengths}."
        )
    figsize = (max(0.8 * num_columns, 4.0), 1.0 * len(rows) + 0.5)
    figure, axes = plt.subplots(len(rows), num_columns, squeeze=False, figsize=figsize)
    for row_axes, (label, images) in zip(axes, images_by_row.items(), strict=True):
        _draw_row(row_axes, label, images)
    for axis, column_title in zip(axes[0], column_titles or [], strict=False):
        axis.set_title(column_title, fontsize=SMALL_TEXT)
    figure.suptitle(title)
    return figure


@dataclass(frozen=True)
class Projection:
    """A map from latent codes to 2-D plot coordinates (see :func:`fit_projection`)."""

    mean: np.ndarray  # (d,)
    components: np.ndarray  # (2, d), orthonormal rows
    axis_labels: tuple[str, str]

    def __call__(self, latents: np.ndarray) -> np.ndarray:
        """Coordinates ``(n, 2)`` of codes ``(n, d)``."""
        return (np.asarray(latents, dtype=np.float64) - self.mean) @ self.components.T


def fit_projection(latents: np.ndarray) -> Projection:
    """A 2-D view of codes ``(n, d)``, n, d >= 2: the identity for d = 2, else the top two PCs."""
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[1] < 2 or latents.shape[0] < 2:
        raise ValueError(
            f"latents must have shape (n, d) with n >= 2 and d >= 2. Received: {latents.shape}."
        )
    if latents.shape[1] == 2:
        return Projection(np.zeros(2), np.eye(2), ("z[0]", "z[1]"))
    mean = latents.mean(axis=0)
    _, singular_values, components = np.linalg.svd(latents - mean, full_matrices=False)
    explained = singular_values**2 / np.sum(singular_values**2)
    labels = (f"PC 1 ({explained[0]:.0%} of variance)", f"PC 2 ({explained[1]:.0%} of variance)")
    return Projection(mean, components[:2], labels)


def draw_latent_scatter(axis, latents: np.ndarray, labels: np.ndarray, projection: Projection):
    """Draw codes on ``axis`` coloured by digit, each digit written at its codes' median."""
    points = projection(latents)
    labels = np.asarray(labels).astype(int)
    if len(points) != len(labels):
        raise ValueError(
            f"latents and labels must have the same length. Received: {len(points)} codes and "
            f"{len(labels)} labels."
        )
    axis.set(xlabel=projection.axis_labels[0], ylabel=projection.axis_labels[1])
    order = np.random.default_rng(0).permutation(len(points))  # no digit hides all of another
    colors = mpl.colors.to_rgba_array(COLORS)[labels[order] % len(COLORS)]
    axis.scatter(points[order, 0], points[order, 1], c=colors, s=3, alpha=0.6, linewidths=0)
    style = {"fontsize": 13, "fontweight": "bold", "ha": "center", "va": "center"}
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    for digit, (x, y) in _label_places(points, labels).items():
        axis.text(x, y, str(digit), **style, path_effects=halo)


def _label_places(points: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Where to write each digit: the median of its codes, pushed off labels already placed."""
    gap = 0.07 * np.ptp(points, axis=0).max()
    places: dict[int, np.ndarray] = {}
    for digit in np.unique(labels):
        place = np.median(points[labels == digit], axis=0)
        for _ in range(20):
            nearest = min(places.values(), key=lambda p: np.hypot(*(place - p)), default=None)
            if nearest is None or np.hypot(*(place - nearest)) >= gap:
                break
            away = place - nearest if np.any(place != nearest) else np.array([0.0, 1.0])
            place = nearest + away / np.hypot(*away) * gap
        places[int(digit)] = place
    return places


def digit_legend(figure: Figure, **kwargs) -> None:
    """A legend of the ten digits' colours beside ``figure``'s panels."""
    handles = [
        Line2D([], [], linestyle="", marker="o", color=COLORS[digit], label=str(digit))
        for digit in range(NUM_CLASSES)
    ]
    figure.legend(handles=handles, title="digit", loc="outside right center", **kwargs)


def plot_latent_space(
    latents: Mapping[str, np.ndarray] | np.ndarray,
    labels: np.ndarray,
    *,
    title: str = "Latent space of the test images",
) -> Figure:
    """Codes ``(n, d)``, or ``{name: codes}`` side by side, coloured by digit; PCA beyond 2-D."""
    panels = latents if isinstance(latents, Mapping) else {"": latents}
    labels = np.asarray(labels)
    shared = all(np.shape(codes)[-1] == 2 for codes in panels.values())
    figsize = (4.4 * len(panels) + 0.8, 4.2)
    figure, axes = plt.subplots(
        1, len(panels), figsize=figsize, squeeze=False, sharex=shared, sharey=shared
    )
    for axis, (name, codes) in zip(axes[0], panels.items(), strict=True):
        draw_latent_scatter(axis, codes, labels, fit_projection(codes))
        axis.set_title(name)
        if shared:
            axis.yaxis.set_tick_params(labelleft=True)
    digit_legend(figure)
    figure.suptitle(title)
    return figure


def manifold_grid(grid_size: int, quantile_range: tuple[float, float] = (0.05, 0.95)):
    """``grid_size`` evenly spaced quantiles of N(0, 1) in ``quantile_range``, increasing."""
    low, high = quantile_range
    if not 0 < low < high < 1:
        raise ValueError(
            f"quantile_range must satisfy 0 < low < high < 1. Received: {quantile_range}."
        )
    quantiles = np.linspace(low, high, grid_size)
    return np.array([NormalDist().inv_cdf(float(q)) for q in quantiles], dtype=np.float32)


def plot_manifold(
    model: keras.Model | Mapping[str, keras.Model],
    *,
    grid_size: int = 20,
    quantile_range: tuple[float, float] = (0.05, 0.95),
    title: str = "Digits decoded across the 2-D latent space",
) -> Figure:
    """Digits decoded on a ``grid_size`` square grid of 2-D codes (:func:`manifold_grid` both
    ways), z[0] growing rightwards and z[1] upwards; ``{name: model}``: side by side."""
    panels = model if isinstance(model, Mapping) else {"": model}
    for name, each in panels.items():
        if latent_size(each) != 2:
            raise ValueError(
                f"plot_manifold needs a 2-D latent space; {name or 'this model'}'s is "
                f"{latent_size(each)}-D. Use plot_latent_space for a projection, or build the "
                "model with latent_dim=2."
            )
    grid = manifold_grid(grid_size, quantile_range)
    z0, z1 = np.meshgrid(grid, grid[::-1])  # row 0 holds the largest z[1]
    points = np.stack([z0.ravel(), z1.ravel()], axis=1)
    figure, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 6.0), squeeze=False)
    # The grid is not evenly spaced in z: round ticks go between the centres of the cells around.
    centres = np.arange(grid_size) * IMAGE_SHAPE[0] + (IMAGE_SHAPE[0] - 1) / 2
    step = 0.5  # latent units between tick labels
    tick_values = np.arange(np.ceil(grid[0] / step) * step, grid[-1] + 1e-6, step)
    tick_labels = [f"{value:g}" for value in np.round(tick_values, 6) + 0.0]
    extent = (
        f"(grid: the {quantile_range[0]:.0%} to {quantile_range[1]:.0%} quantiles "
        f"of N(0, 1), z from {grid[0]:.2f} to {grid[-1]:.2f})"
    )
    for axis, (name, each) in zip(axes[0], panels.items(), strict=True):
        images = decode(each, points).reshape(grid_size, grid_size, *IMAGE_SHAPE)
        canvas = images.transpose(0, 2, 1, 3).reshape(grid_size * IMAGE_SHAPE[0], -1)
        axis.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0)
        axis.grid(False)
        axis.set_xticks(np.interp(tick_values, grid, centres), tick_labels)
        axis.set_yticks(np.interp(tick_values, grid, centres[::-1]), tick_labels)
        axis.set(title=name, xlabel="z[0]", ylabel="z[1]")
    if len(panels) == 1:
        axes[0, 0].set_title(f"{title}\n{extent}")
    else:
        figure.suptitle(f"{title}\n{extent}")
    return figure


class LearningSnapshots(keras.callbacks.Callback):
    """A callback that reconstructs ``images`` and decodes ``num_samples`` fixed prior codes (0 for
    an autoencoder) before training and after each of ``epochs``, into ``snapshots``."""

    def __init__(
        self, images: np.ndarray, *, epochs: Sequence[int], num_samples: int = 6, seed: int = 0
    ) -> None:
        super().__init__()
        self.images = np.asarray(images, dtype=np.float32)
        if self.images.ndim != 2 or len(self.images) == 0:
            raise ValueError(
                f"images must be a non-empty array of shape (n, 784). Received: shape "
                f"{self.images.shape}."
            )
        epochs = tuple(epochs)
        if not epochs or any(
            isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1 for epoch in epochs
        ):
            raise ValueError(
                f"epochs must be epoch numbers counted from 1, for example (1, 2, 5, 10). "
                f"Received: {epochs!r}."
            )
        _check_integer("num_samples", num_samples, 0)
        self.epochs = frozenset(epochs)
        self.num_samples = num_samples
        self.seed = seed
        self.snapshots: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._prior_codes = None

    def _take(self, label: str) -> None:
        samples = decode(self.model, self._prior_codes)  # none, without prior codes
        self.snapshots[label] = (reconstruct(self.model, self.images), samples)

    def on_train_begin(self, logs=None) -> None:
        rng = np.random.default_rng(self.seed)
        self._prior_codes = rng.standard_normal((self.num_samples, latent_size(self.model)))
        self.snapshots = {}
        self._take("before training")

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if epoch + 1 in self.epochs:
            self._take(f"after epoch {epoch + 1}")

    def plot(self, *, title: str = "What the model draws as it learns") -> Figure:
        """One row per snapshot, under the originals; ValueError before any snapshot."""
        if not self.snapshots:
            raise ValueError(
                "no snapshots yet: pass this callback to fit(..., callbacks=[snapshots]) first."
            )
        num_images, gap = len(self.images), 1 if self.num_samples else 0
        num_columns = num_images + gap + self.num_samples
        rows = {"original": (self.images, self.images[:0]), **self.snapshots}
        figsize = (max(0.7 * num_columns, 4.0), 0.75 * len(rows) + 0.8)
        figure, axes = plt.subplots(len(rows), num_columns, squeeze=False, figsize=figsize)
        for row_axes, (label, (reconstructions, samples)) in zip(axes, rows.items(), strict=True):
            pictures = [*_as_images(reconstructions), *[None] * gap, *_as_images(samples)]
            _draw_row(row_axes, label, pictures + [None] * (num_columns - len(pictures)))
        axes[0, num_images // 2].set_title("test digits, reconstructed", fontsize=SMALL_TEXT)
        if self.num_samples:
            axes[0, num_images + gap + self.num_samples // 2].set_title(
                "fixed random codes z ~ N(0, I), decoded", fontsize=SMALL_TEXT
            )
        figure.suptitle(title)
        return figure
