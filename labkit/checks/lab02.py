"""Lab 02's check: the autoencoder's encoder and decoder (``autoencoder_layers``)."""

from __future__ import annotations

import contextlib

import numpy as np

from labkit.checks import (
    Answers,
    Inputs,
    Verdict,
    _exercise,
    _first,
    _numpy,
)

_PIXELS = 784  # MNIST's 28 x 28: the encoder's input and the decoder's output
_WIDEST_CODE = 1024  # the check draws codes this wide and uses the first latent_dim numbers
# The models compute in float32 (TensorFloat-32 on recent GPUs: about 3 decimal digits), the
# check in float64: outputs match when no value is further than this fraction of their
# root-mean-square from the reference. A wrong activation or wiring moves them by about 1.
_FORWARD_TOLERANCE = 0.02


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # 1 / (1 + exp(-x)), without overflow


def _softmax(x: np.ndarray) -> np.ndarray:
    exponentials = np.exp(x - x.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


# The activations the check can tell apart by what a layer does, in float64.
_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
}


def _draw_autoencoder(rng: np.random.Generator, hidden: bool) -> Inputs:
    num_images = 48 if hidden else 16
    images = rng.random((num_images, _PIXELS))
    images[rng.random(images.shape) < 0.6] = 0.0  # mostly background, as MNIST
    codes = rng.normal(0, 3, (num_images, _WIDEST_CODE))  # about a trained code's spread
    if hidden:  # the edges: a black and a white image; the zero code and a large one
        images[0], images[1] = 0.0, 1.0
        codes[0], codes[1] = 0.0, 4 * codes[1]
    # The hidden checks also build the models with other sizes: three hidden layers, a small
    # code (a function that reads HIDDEN_DIMS, or indexes two layers, builds others).
    widths = np.sort(rng.choice(np.arange(16, 257), 3, replace=False))[::-1]
    return {
        "images": images.astype(np.float32),
        "codes": codes.astype(np.float32),
        "one_at_a_time": hidden,  # also call the models on a batch of one
        "other_sizes": (
            {"hidden_dims": [int(w) for w in widths], "latent_dim": int(rng.integers(2, 17))}
            if hidden
            else None
        ),
    }


def _all_layers(model) -> list:
    """The model's layers in order, those of nested models (a keras.Sequential block) included."""
    layers = []
    for layer in model.layers:
        layers += _all_layers(layer) if hasattr(layer, "layers") else [layer]
    return layers


def _model_answers(model, name: str, inputs: np.ndarray, one_at_a_time: bool) -> Answers:
    """What the check needs of one model: its Dense layers, counts and outputs on ``inputs``."""
    from labkit.backend import keras

    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TypeError(
            f"the {name} must be a keras.Model with one input and one output, as "
            f"keras.Model(inputs, outputs, name={name!r}) builds. Received: {model!r}."
        )
    dense = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.Dense)]
    answers = {
        "input_shape": tuple(model.inputs[0].shape),
        "output_shape": tuple(model.outputs[0].shape),
        "units": [int(layer.units) for layer in dense],
        "kernels": [_numpy(layer.kernel) for layer in dense],
        "biases": [
            np.zeros(layer.units) if layer.bias is None else _numpy(layer.bias) for layer in dense
        ],
        "configured": [str(layer.get_config().get("activation")) for layer in dense],
        "parameters": int(model.count_params()),
        "output": None,
        "taps": None,
        "single": None,
    }
    if answers["input_shape"][1:] != inputs.shape[1:]:
        return answers  # the shape check says so; calling it would only raise
    answers["output"] = _numpy(model(inputs, training=False))
    if one_at_a_time:
        answers["single"] = _numpy(model(inputs[:1], training=False))
    # What each Dense layer hands on (its activation, and any activation layer after it,
    # applied): the next Dense layer's input, and the model's output for the last one.
    with contextlib.suppress(Exception):  # a graph the probe cannot follow: judged on outputs
        probe = keras.Model(model.inputs[0], [layer.input for layer in dense[1:]] + model.outputs)
        taps = probe(inputs, training=False)
        answers["taps"] = [_numpy(tap) for tap in (taps if isinstance(taps, list) else [taps])]
    return answers


def _build(inputs: Inputs, build_encoder, build_decoder, sizes: dict) -> Answers:
    hidden_dims, latent_dim = tuple(sizes["hidden_dims"]), sizes["latent_dim"]
    encoder = build_encoder(_PIXELS, hidden_dims, latent_dim)
    decoder = build_decoder(_PIXELS, hidden_dims, latent_dim)
    one_at_a_time, codes = inputs["one_at_a_time"], inputs["codes"][:, :latent_dim]
    return {
        **sizes,
        "encoder": _model_answers(encoder, "encoder", inputs["images"], one_at_a_time),
        "decoder": _model_answers(decoder, "decoder", codes, one_at_a_time),
    }


def _run_autoencoder_layers(
    inputs: Inputs, build_encoder, build_decoder, hidden_dims, latent_dim
) -> Answers:
    lab_sizes = {
        "hidden_dims": [int(units) for units in hidden_dims],
        "latent_dim": int(latent_dim),
    }
    if not 0 < lab_sizes["latent_dim"] <= _WIDEST_CODE:
        raise ValueError(
            f"the check takes codes of 1 to {_WIDEST_CODE} numbers. Received: "
            f"latent_dim={latent_dim}."
        )
    other_sizes = [inputs["other_sizes"]] if inputs["other_sizes"] else []
    return {
        "builds": [
            _build(inputs, build_encoder, build_decoder, sizes)
            for sizes in [lab_sizes, *other_sizes]
        ]
    }


def _matches(output, reference) -> bool:
    """Value by value, within the tolerance of float32 arithmetic (see _FORWARD_TOLERANCE)."""
    if output is None or reference is None or output.shape != reference.shape:
        return False
    scale = np.sqrt(np.mean(reference**2)) + 1e-6
    return bool(np.all(np.abs(output - reference) <= _FORWARD_TOLERANCE * scale))


def _forward(model: Answers, inputs: np.ndarray, activations: list[str]):
    """The float64 forward pass through the model's own Dense weights, or None if they
    do not chain (then the sizes check fails)."""
    values = inputs.astype(np.float64)
    if len(activations) != len(model["kernels"]):
        return None
    for kernel, bias, activation in zip(
        model["kernels"], model["biases"], activations, strict=True
    ):
        if kernel.shape[0] != values.shape[1]:
            return None
        values = _ACTIVATIONS[activation](values @ kernel + bias)
    return values


def _activations_found(model: Answers, inputs: np.ndarray, expected: list[str]) -> list[str]:
    """Each Dense layer's activation, told by what it does to its own input on the check's
    inputs (the expected one first, so that a ReLU whose inputs are all positive stays one)."""
    if model["taps"] is None or len(model["taps"]) != len(model["kernels"]):
        return model["configured"]
    found, layer_input = [], inputs.astype(np.float64)
    for index, (kernel, bias, output) in enumerate(
        zip(model["kernels"], model["biases"], model["taps"], strict=True)
    ):
        guess = expected[index] if index < len(expected) else "relu"
        names = [guess, *(name for name in _ACTIVATIONS if name != guess)]
        if kernel.shape[0] != layer_input.shape[-1]:
            found.append("unknown")
        else:
            before = layer_input @ kernel + bias
            found.append(
                next((n for n in names if _matches(output, _ACTIVATIONS[n](before))), "another")
            )
        layer_input = output
    return found


def _dense_parameters(sizes: list[int]) -> int:
    """Weights and biases of a chain of Dense layers with these sizes (inputs first)."""
    from itertools import pairwise

    return sum(inputs * outputs + outputs for inputs, outputs in pairwise(sizes))


def _one_missing(found: list[int], expected: list[int]) -> int | None:
    """The size of the one layer ``found`` lacks, if that is its only difference."""
    for index, units in enumerate(expected):
        if found == expected[:index] + expected[index + 1 :]:
            return units
    return None


def _sizes(sizes) -> str:
    return "-".join(str(size) for size in sizes)


def _layer_advice(part: str, found: list[int], expected: list[int]) -> str | None:
    """Advice on a model's Dense layer sizes (``expected`` leaves out the input), or None."""
    if found == expected:
        return None
    missing = _one_missing(found, expected)
    if missing is not None and found[-1:] == expected[-1:]:
        start = "image" if part == "encoder" else "latent"
        return (
            f"Your {part}'s Dense layers are {_sizes(found)}: the layer of {missing} units is "
            "missing from the model (not written, or its output never used). Call each layer "
            "on the output of the one before, `hidden = keras.layers.Dense(...)(hidden)`, "
            f"starting from `hidden = {start}`."
        )
    hidden_layers = expected[:-1]
    if hidden_layers != hidden_layers[::-1] and found == [*hidden_layers[::-1], expected[-1]]:
        if part == "encoder":
            return (
                f"Your encoder's hidden layers are {_sizes(found[:-1])}, in reverse order: "
                f"they are hidden_dims in order, {_sizes(hidden_layers)}, narrowing from the "
                "784 pixels towards the code."
            )
        return (
            f"Your decoder's hidden layers are {_sizes(found[:-1])}, in the encoder's order: "
            f"mirror them, {_sizes(hidden_layers)} (hidden_dims reversed, "
            "`reversed(hidden_dims)`), so that the decoder widens from the code back to the "
            "784 pixels."
        )
    layers, last = (
        ("hidden_dims", "the latent_dim-number code")
        if part == "encoder"
        else ("hidden_dims reversed", "the num_pixels-pixel output")
    )
    return (
        f"Your {part}'s Dense layers are {_sizes(found) or 'none'}; they should be "
        f"{_sizes(expected)}: one Dense layer per entry of {layers}, then {last}."
    )


def _named(activation: str | None) -> str:
    return activation if activation in _ACTIVATIONS else "an activation the check cannot name"


_OUTPUT_ADVICE = {
    "linear": "has no activation, so pixels come out below 0 or above 1",
    "relu": "uses a ReLU, so pixels can come out above 1 (and get stuck at 0)",
    "softmax": "uses a softmax, which makes the 784 pixels share one total of 1, so that a "
    "stroke cannot be white",
    "tanh": "uses tanh, so pixels come out between -1 and 1",
}


def _judge_build(inputs: Inputs, build: Answers) -> tuple[dict, list]:
    """The checks and the recognised mistakes of the models built with one set of sizes."""
    hidden_dims, latent_dim = build["hidden_dims"], build["latent_dim"]
    encoder, decoder = build["encoder"], build["decoder"]
    images, codes = inputs["images"], inputs["codes"][:, :latent_dim]
    encoder_sizes = [_PIXELS, *hidden_dims, latent_dim]
    decoder_sizes = [latent_dim, *hidden_dims[::-1], _PIXELS]
    relus = ["relu"] * len(hidden_dims)
    encoder_expected, decoder_expected = [*relus, "linear"], [*relus, "sigmoid"]
    encoder_found = _activations_found(encoder, images, encoder_expected)
    decoder_found = _activations_found(decoder, codes, decoder_expected)

    def same_one_at_a_time(model: Answers) -> bool:
        single = model["single"]
        return single is None or _matches(single, model["output"][:1])

    encoded, decoded = encoder["output"], decoder["output"]
    checks = {
        f"the encoder takes (batch, {_PIXELS}) images to (batch, {latent_dim}) codes": (
            encoder["input_shape"] == (None, _PIXELS)
            and encoder["output_shape"] == (None, latent_dim)
            and encoded is not None
            and encoded.shape == (len(images), latent_dim)
        ),
        f"the decoder takes (batch, {latent_dim}) codes to (batch, {_PIXELS}) images": (
            decoder["input_shape"] == (None, latent_dim)
            and decoder["output_shape"] == (None, _PIXELS)
            and decoded is not None
            and decoded.shape == (len(codes), _PIXELS)
        ),
        f"Dense layers {_sizes(encoder_sizes)} (encoder) and {_sizes(decoder_sizes)} (decoder)": (
            encoder["units"] == encoder_sizes[1:] and decoder["units"] == decoder_sizes[1:]
        ),
        "ReLU on the hidden layers, no activation on the code, a sigmoid on the output": (
            encoder_found == encoder_expected and decoder_found == decoder_expected
        ),
        f"parameter counts by the formula: {_dense_parameters(encoder_sizes):,} (encoder) and "
        f"{_dense_parameters(decoder_sizes):,} (decoder)": (
            encoder["parameters"] == _dense_parameters(encoder_sizes)
            and decoder["parameters"] == _dense_parameters(decoder_sizes)
        ),
        "the codes of new random images = a float64 forward pass through the encoder's own "
        "weights (ReLU hidden layers, linear code)": _matches(
            encoded, _forward(encoder, images, encoder_expected)
        )
        and same_one_at_a_time(encoder),
        "the images decoded from new random codes = the float64 forward pass through the "
        "decoder's own weights (ReLU hidden layers, sigmoid output), all in [0, 1]": _matches(
            decoded, _forward(decoder, codes, decoder_expected)
        )
        and same_one_at_a_time(decoder)
        and bool(np.all((decoded >= 0) & (decoded <= 1))),
    }
    code_activation = encoder_found[-1] if encoder_found else None
    output_activation = decoder_found[-1] if decoder_found else None
    hidden_found = encoder_found[:-1] + decoder_found[:-1]
    wrong_hidden = next((name for name in hidden_found if name != "relu"), None)
    code_size = encoder["units"][-1] if encoder["units"] else None
    return checks, [
        (
            code_size is not None and code_size != latent_dim,
            f"Your code has {code_size} numbers, not latent_dim = {latent_dim}: the "
            "encoder's last layer is `keras.layers.Dense(latent_dim)`, the bottleneck.",
        ),
        (
            decoder["input_shape"] != (None, latent_dim),
            f"Your decoder takes inputs of shape {decoder['input_shape']}: it decodes a "
            "code, `keras.Input(shape=(latent_dim,))`.",
        ),
        *(
            (advice is not None, advice)
            for advice in [
                _layer_advice("encoder", encoder["units"], encoder_sizes[1:]),
                _layer_advice("decoder", decoder["units"], decoder_sizes[1:]),
            ]
        ),
        (
            code_activation == "relu",
            "Your code layer has a ReLU, so no code is ever negative: every number "
            "that would be negative is cut to 0 and its information lost. Leave the code "
            "layer without activation, `keras.layers.Dense(latent_dim)`.",
        ),
        (
            code_activation not in (None, "linear"),
            f"Your code layer applies {_named(code_activation)}: leave it without "
            "activation, `keras.layers.Dense(latent_dim)`, so that a code can be any real "
            "number.",
        ),
        (
            output_activation not in (None, "sigmoid"),
            f"Your decoder's output "
            f"{_OUTPUT_ADVICE.get(output_activation, 'is not a sigmoid')}: give the "
            'last layer `activation="sigmoid"`, which keeps each pixel in (0, 1) on '
            "its own.",
        ),
        (
            wrong_hidden == "sigmoid",
            'Your hidden layers use a sigmoid: give them `activation="relu"`, in the '
            "encoder and the decoder. The sigmoid belongs only on the decoder's output.",
        ),
        (
            wrong_hidden == "linear",
            "Your hidden layers have no activation, so the whole network is one linear "
            'map, however many layers it has: give them `activation="relu"`.',
        ),
        (
            wrong_hidden is not None,
            f"Your hidden layers use {_named(wrong_hidden)}: this lab's hidden layers use "
            'the ReLU, `activation="relu"`.',
        ),
    ]


@_exercise("autoencoder_layers", _draw_autoencoder, _run_autoencoder_layers)
def _judge_autoencoder_layers(inputs: Inputs, answers: Answers) -> Verdict:
    lab, *others = answers["builds"]
    checks, mistakes = _judge_build(inputs, lab)
    for other in others:
        other_checks, other_mistakes = _judge_build(inputs, other)
        sizes = f"hidden_dims={tuple(other['hidden_dims'])}, latent_dim={other['latent_dim']}"
        checks["hidden checks: the same checks on models built with other sizes"] = all(
            other_checks.values()
        )
        ignored = [
            name
            for name, part, lab_units in [
                ("build_encoder", "encoder", [*lab["hidden_dims"], lab["latent_dim"]]),
                ("build_decoder", "decoder", [*lab["hidden_dims"][::-1], _PIXELS]),
            ]
            if other[part]["units"] == lab_units
        ]
        mistakes.append(
            (
                bool(ignored),
                f"Called with {sizes}, your {' and '.join(ignored)} still "
                f"build{'s' if len(ignored) == 1 else ''} the lab's sizes: build from the "
                "arguments hidden_dims and latent_dim, not from HIDDEN_DIMS, LATENT_DIM or "
                "numbers.",
            )
        )
        mistakes += [
            (found, found and f"Called with {sizes}: {advice[0].lower()}{advice[1:]}")
            for found, advice in other_mistakes
        ]
    return _first(
        checks,
        mistakes,
        "Build each model as a chain of Dense layers, each called on the output of the one "
        "before: ReLU hidden layers, a linear code, a sigmoid output.",
    )
