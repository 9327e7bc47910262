"""Interactive widgets: move through the latent space and watch the decoded digit change."""

from __future__ import annotations

import io
from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image, ImageDraw

from labkit.backend import keras
from labkit.config import IMAGE_SHAPE, NUM_CLASSES
from labkit.evaluation import decode, encode
from labkit.models import latent_size
from labkit.plots import digit_legend, draw_latent_scatter, fit_projection

DIGIT_DISPLAY_PIXELS = 168  # 28 x 6: large enough to see strokes, nearest-neighbour scaled
SLIDER_LIMIT = 3.0  # latent units: +-3 standard deviations of the VAE's N(0, 1) prior
PATH_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the t values an interpolation snapshot shows


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="png")
    return buffer.getvalue()


def _digit_pixels(image: np.ndarray, pixels: int = DIGIT_DISPLAY_PIXELS) -> np.ndarray:
    """A decoded image (784 values in [0, 1]) as an enlarged uint8 RGB picture."""
    grey = (np.clip(np.asarray(image).reshape(IMAGE_SHAPE), 0.0, 1.0) * 255).astype(np.uint8)
    scale = pixels // IMAGE_SHAPE[0]
    grey = np.kron(grey, np.ones((scale, scale), dtype=np.uint8))
    return np.repeat(grey[:, :, None], 3, axis=2)


def _captioned(picture: np.ndarray, caption: str) -> np.ndarray:
    """``picture`` under a white band with ``caption`` in it."""
    band = Image.new("RGB", (picture.shape[1], 16), "white")
    ImageDraw.Draw(band).text((2, 2), caption, fill="black")
    return np.concatenate([np.asarray(band), picture], axis=0)


def _side_by_side(pictures: list[np.ndarray]) -> np.ndarray:
    height = max(picture.shape[0] for picture in pictures)
    padded = [
        np.pad(p, ((0, height - p.shape[0]), (0, 8), (0, 0)), constant_values=255) for p in pictures
    ]
    return np.concatenate(padded, axis=1)


class _SnapshotBox(widgets.VBox):
    """A VBox saved with a PNG ``snapshot()`` and ``describe()``, for viewers without widgets."""

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle.update({"image/png": _png(self.snapshot()), "text/plain": self.describe()})
        return bundle


class LatentExplorer(_SnapshotBox):
    """One slider per latent dimension (+-``slider_limit``): the decoded digit, and the point over
    the codes of ``images`` coloured by ``labels``. For a conditional VAE, ``digit`` (0 to 9) is the
    digit drawn first (buttons pick another) and ``labels`` also go to the encoder."""

    def __init__(
        self,
        model: keras.Model,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        digit: int | None = None,
        slider_limit: float = SLIDER_LIMIT,
    ) -> None:
        self.model = model
        self.slider_limit = float(slider_limit)
        self.digit_picker = None
        if digit is not None:
            self.digit_picker = widgets.ToggleButtons(
                options=list(range(NUM_CLASSES)),
                value=self._checked_digit(digit),
                description="digit",
                style={"button_width": "32px"},
            )
        latents = encode(model, images, labels=None if digit is None else labels)
        self.num_codes = len(latents)
        self.projection = fit_projection(latents)
        # Drawn once: only the marker is drawn anew as the point moves, in milliseconds.
        figure = plt.Figure(figsize=(4.4, 3.2), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        axis = figure.add_subplot()
        draw_latent_scatter(axis, latents, np.asarray(labels), self.projection)
        digit_legend(figure, fontsize=9, title_fontsize=9, handletextpad=0.1, labelspacing=0.3)
        axis.set_title("position over the test codes", fontsize=10)
        figure.canvas.draw()
        self._scatter_pixels = np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy()
        self._to_pixels = axis.transData.transform  # y counted upwards, unlike an image's rows
        limit = self.slider_limit
        options = dict(value=0.0, min=-limit, max=limit, step=0.05, continuous_update=True)
        self.sliders = [
            widgets.FloatSlider(**options, description=f"z[{i}]") for i in range(latent_size(model))
        ]
        self.digit_view = widgets.Image(format="png")
        self.position_view = widgets.Image(format="png")
        self._holding = False
        picker = [] if self.digit_picker is None else [self.digit_picker]
        for control in [*picker, *self.sliders]:
            control.observe(self._on_change, names="value")
        # flex-start: each picture keeps its own height instead of stretching to the row's.
        layout = widgets.Layout(align_items="flex-start")
        pictures = widgets.HBox([self.digit_view, self.position_view], layout=layout)
        super().__init__([*picker, pictures, *self.sliders])
        self.update()

    @staticmethod
    def _checked_digit(digit) -> int:
        if isinstance(digit, bool) or digit not in range(NUM_CLASSES):
            raise ValueError(f"digit must be one of 0 to {NUM_CLASSES - 1}. Received: {digit!r}.")
        return int(digit)

    @property
    def digit(self) -> int | None:
        """The digit a conditional decoder draws (None for another model)."""
        return None if self.digit_picker is None else int(self.digit_picker.value)

    def set_digit(self, digit: int) -> None:
        """Draw ``digit`` (0 to 9, else ValueError) at the current point (conditional VAE)."""
        if self.digit_picker is None:
            raise ValueError("this explorer has no digit to pick: its model is not conditional.")
        self.digit_picker.value = self._checked_digit(digit)  # the observer redraws

    def _decode(self) -> np.ndarray:
        return decode(self.model, self.point[None, :], labels=self.digit)[0]

    @property
    def point(self) -> np.ndarray:
        """The current latent point, shape ``(latent_dim,)``."""
        return np.array([slider.value for slider in self.sliders], dtype=np.float32)

    def set_point(self, point) -> None:
        """Move the sliders to ``point`` and redraw once; ValueError for a point off the sliders."""
        point = np.asarray(point, dtype=np.float64)
        if point.shape != (latent_size(self.model),):
            raise ValueError(
                f"point must have {latent_size(self.model)} values, one per latent dimension. "
                f"Received: shape {point.shape}."
            )
        if np.any(np.abs(point) > self.slider_limit):
            raise ValueError(
                f"every coordinate must lie in [-{self.slider_limit}, {self.slider_limit}] "
                f"(the sliders' range; pass slider_limit= to widen it). Received: {point.tolist()}."
            )
        self._holding = True
        try:
            for slider, value in zip(self.sliders, point, strict=True):
                slider.value = float(value)
        finally:
            self._holding = False
        self.update()

    def _on_change(self, change: dict) -> None:
        if not self._holding:
            self.update()

    def _position_pixels(self) -> np.ndarray:
        picture = Image.fromarray(self._scatter_pixels)
        x, y = self._to_pixels(self.projection(self.point[None, :])[0])
        y = len(self._scatter_pixels) - y
        box = (x - 6, y - 6, x + 6, y + 6)  # a marker of radius 6 pixels
        ImageDraw.Draw(picture).ellipse(box, fill=(220, 20, 20), outline=(0, 0, 0), width=2)
        return np.asarray(picture)

    def update(self) -> None:
        """Decode the current point and redraw both pictures."""
        self.digit_view.value = _png(_digit_pixels(self._decode()))
        self.position_view.value = _png(self._position_pixels())

    def snapshot(self) -> np.ndarray:
        digit = _digit_pixels(self._decode())
        if self.digit is not None:
            digit = _captioned(digit, f"digit {self.digit}")
        return _side_by_side([digit, self._position_pixels()])

    def describe(self) -> str:
        what = "Latent explorer: the digit decoded at z"
        if self.digit is not None:
            what = f"Conditional explorer: the digit {self.digit} decoded at style code z"
        point = ", ".join(f"{value:.2f}" for value in self.point)
        return (
            f"{what} = ({point}), beside a scatter of {self.num_codes} test codes coloured by "
            "digit with that point marked."
        )


class InterpolationExplorer(_SnapshotBox):
    """Slide between two of ``images``, picked by index, decoded by each of ``models``."""

    def __init__(
        self,
        models: Mapping[str, keras.Model],
        images: np.ndarray,
        *,
        start_index: int = 0,
        end_index: int = 1,
    ) -> None:
        if not models:
            raise ValueError("models is empty: pass at least one model, e.g. {'VAE': vae}.")
        self.models = dict(models)
        self.images = np.asarray(images, dtype=np.float32)
        last = len(self.images) - 1
        self.start_picker = widgets.BoundedIntText(value=0, min=0, max=last, description="from")
        self.end_picker = widgets.BoundedIntText(value=1, min=0, max=last, description="to")
        self.mix_slider = widgets.FloatSlider(
            value=0.0, min=0.0, max=1.0, step=0.05, description="t", continuous_update=True
        )
        self.views = {name: widgets.Image(format="png") for name in self.models}
        self._holding = False
        columns = [widgets.VBox([widgets.Label(name), view]) for name, view in self.views.items()]
        pickers = widgets.HBox([self.start_picker, self.end_picker])
        super().__init__([pickers, self.mix_slider, widgets.HBox(columns)])
        self.start_picker.observe(self._on_pair, names="value")
        self.end_picker.observe(self._on_pair, names="value")
        self.mix_slider.observe(lambda change: self.update(), names="value")
        self.set_pair(start_index, end_index)

    def set_pair(self, start_index: int, end_index: int) -> None:
        """Slide between ``images[start_index]`` and ``images[end_index]`` (else ValueError)."""
        last = len(self.images) - 1
        for name, index in (("start_index", start_index), ("end_index", end_index)):
            if not 0 <= index <= last:
                raise ValueError(f"{name} must be between 0 and {last}. Received: {index}.")
        self._holding = True
        try:
            self.start_picker.value, self.end_picker.value = int(start_index), int(end_index)
        finally:
            self._holding = False
        self._on_pair()

    def _on_pair(self, change: dict | None = None) -> None:
        if self._holding:
            return
        pair = self.images[[self.start_picker.value, self.end_picker.value]]
        self._codes = {name: encode(model, pair) for name, model in self.models.items()}
        self.update()

    def decoded(self, mix: float | None = None) -> dict[str, np.ndarray]:
        """Each model's decoding ``(784,)`` at ``t = mix`` on the line (default: the slider's)."""
        mix = self.mix_slider.value if mix is None else mix
        return {
            name: decode(model, (1 - mix) * self._codes[name][:1] + mix * self._codes[name][1:])[0]
            for name, model in self.models.items()
        }

    def update(self) -> None:
        """Redraw every model's decoding for the current pair and ``t``."""
        for name, image in self.decoded().items():
            self.views[name].value = _png(_digit_pixels(image))

    def snapshot(self) -> np.ndarray:
        """The whole path: one row per model, decoded at each t of ``PATH_STEPS``."""
        path = [(f"t = {mix:g}", self.decoded(mix)) for mix in PATH_STEPS]
        rows = []
        for name in self.models:
            pictures = [_captioned(_digit_pixels(step[name], 84), t) for t, step in path]  # 28 x 3
            rows.append(_captioned(_side_by_side(pictures), name))
        gap = np.full((6, rows[0].shape[1], 3), 255, dtype=np.uint8)
        return np.concatenate([part for row in rows for part in (row, gap)][:-1], axis=0)

    def describe(self) -> str:
        steps = ", ".join(f"{mix:g}" for mix in PATH_STEPS)
        return (
            f"Interpolation explorer: decodings at t = {steps} along the straight line from "
            f"the code of test image {self.start_picker.value} to that of test image "
            f"{self.end_picker.value}, one row per model ({', '.join(self.models)})."
        )
