"""labkit.checks, Lab 02: the autoencoder's encoder and decoder pass the instructor's answer,
fail every wrong answer, and name each mistake the check recognises.

Each wrong answer is written as a student would write it, in the notebook's own function shape.
"""

from __future__ import annotations

import pytest

import labkit
from labkit.backend import keras

SEEDS = (0, 1, 2)
HIDDEN_DIMS = (128, 64)  # the notebook's parameters
LATENT_DIM = 32
Dense = keras.layers.Dense


# --- The instructor's answer, as notebook 02 writes it ------------------------------------------


def build_encoder(num_pixels, hidden_dims, latent_dim):
    image = keras.Input(shape=(num_pixels,), name="image")
    hidden = image
    for number, units in enumerate(hidden_dims, start=1):
        hidden = Dense(units, activation="relu", name=f"encoder_dense_{number}")(hidden)
    code = Dense(latent_dim, name="code")(hidden)
    return keras.Model(image, code, name="encoder")


def build_decoder(num_pixels, hidden_dims, latent_dim):
    latent = keras.Input(shape=(latent_dim,), name="z")
    hidden = latent
    for number, units in enumerate(reversed(hidden_dims), start=1):
        hidden = Dense(units, activation="relu", name=f"decoder_dense_{number}")(hidden)
    reconstruction = Dense(num_pixels, activation="sigmoid", name="reconstruction")(hidden)
    return keras.Model(latent, reconstruction, name="decoder")


def check(encoder=build_encoder, decoder=build_decoder, *, seed=0, hidden=False, sizes=None):
    hidden_dims, latent_dim = sizes or (HIDDEN_DIMS, LATENT_DIM)
    return labkit.check_exercise(
        "autoencoder_layers", encoder, decoder, hidden_dims, latent_dim, seed=seed, hidden=hidden
    )


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_instructors_answer_passes(seed, hidden):
    result = check(seed=seed, hidden=hidden)
    assert result.passed, result.checks
    assert len(result.checks) == (8 if hidden else 7)


def test_it_passes_other_sizes_of_the_parameters_cell():
    result = check(seed=3, hidden=True, sizes=((256, 128, 64), 2))
    assert result.passed, result.checks
    assert "Dense layers 784-256-128-64-2 (encoder) and 2-64-128-256-784 (decoder)" in (
        result.checks
    )


def test_the_check_lines_name_the_lab_sizes_and_parameter_counts():
    lines = list(check().checks)
    assert "Dense layers 784-128-64-32 (encoder) and 32-64-128-784 (decoder)" in lines
    assert "parameter counts by the formula: 110,816 (encoder) and 111,568 (decoder)" in lines


def test_an_activation_layer_after_a_dense_layer_counts_as_its_activation():
    def encoder(num_pixels, hidden_dims, latent_dim):
        image = keras.Input(shape=(num_pixels,))
        hidden = image
        for units in hidden_dims:
            hidden = keras.layers.Activation("relu")(Dense(units)(hidden))
        return keras.Model(image, Dense(latent_dim)(hidden))

    assert check(encoder=encoder, hidden=True).passed


# --- The unsolved stub ---------------------------------------------------------------------------


def test_the_unsolved_stub_fails_with_not_written_yet():
    def encoder(num_pixels, hidden_dims, latent_dim):
        image = keras.Input(shape=(num_pixels,), name="image")  # noqa: F841 (the stub's shape)
        raise NotImplementedError("Exercise 1 (encoder): ...")

    result = check(encoder=encoder)
    assert not result.passed
    assert result.advice.startswith("Not written yet")


# --- The recognised mistakes, as a student would write them --------------------------------------


def _encoder(code_activation=None, hidden_activation="relu", order=None, skip=False):
    def encoder(num_pixels, hidden_dims, latent_dim):
        image = keras.Input(shape=(num_pixels,))
        hidden = image
        for units in order(hidden_dims) if order else hidden_dims:
            # skip: every layer called on the image, so only the last one's output is used
            hidden = Dense(units, activation=hidden_activation)(image if skip else hidden)
        return keras.Model(image, Dense(latent_dim, activation=code_activation)(hidden))

    return encoder


def _decoder(output_activation="sigmoid", hidden_activation="relu", mirrored=True, skip=False):
    def decoder(num_pixels, hidden_dims, latent_dim):
        latent = keras.Input(shape=(latent_dim,))
        hidden = latent
        for units in reversed(hidden_dims) if mirrored else hidden_dims:
            hidden = Dense(units, activation=hidden_activation)(latent if skip else hidden)
        return keras.Model(latent, Dense(num_pixels, activation=output_activation)(hidden))

    return decoder


def _encoder_wrong_code_size(num_pixels, hidden_dims, latent_dim):
    image = keras.Input(shape=(num_pixels,))
    hidden = Dense(hidden_dims[0], activation="relu")(image)
    hidden = Dense(hidden_dims[1], activation="relu")(hidden)
    return keras.Model(image, Dense(hidden_dims[1])(hidden))  # the code as wide as the layer


def _decoder_wrong_input(num_pixels, hidden_dims, latent_dim):
    return _decoder()(num_pixels, hidden_dims, 16)


def _encoder_from_the_globals(num_pixels, hidden_dims, latent_dim):
    return build_encoder(num_pixels, HIDDEN_DIMS, LATENT_DIM)


def _decoder_from_the_globals(num_pixels, hidden_dims, latent_dim):
    return build_decoder(num_pixels, HIDDEN_DIMS, LATENT_DIM)


def _encoder_two_layers_by_index(num_pixels, hidden_dims, latent_dim):
    image = keras.Input(shape=(num_pixels,))
    hidden = Dense(hidden_dims[0], activation="relu")(image)
    hidden = Dense(hidden_dims[1], activation="relu")(hidden)
    return keras.Model(image, Dense(latent_dim)(hidden))


MISTAKES = {
    "relu on the code": (
        {"encoder": _encoder(code_activation="relu")},
        "no code is ever negative",
    ),
    "tanh on the code": ({"encoder": _encoder(code_activation="tanh")}, "any real number"),
    "no sigmoid on the output": (
        {"decoder": _decoder(output_activation=None)},
        "no activation, so pixels come out below 0 or above 1",
    ),
    "relu on the output": (
        {"decoder": _decoder(output_activation="relu")},
        "uses a ReLU, so pixels can come out above 1",
    ),
    "softmax on the output": (
        {"decoder": _decoder(output_activation="softmax")},
        "share one total of 1",
    ),
    "wrong code size": ({"encoder": _encoder_wrong_code_size}, "Your code has 64 numbers"),
    "decoder input of the wrong size": (
        {"decoder": _decoder_wrong_input},
        "Your decoder takes inputs of shape (None, 16)",
    ),
    "decoder not mirrored": (
        {"decoder": _decoder(mirrored=False)},
        "Your decoder's hidden layers are 128-64, in the encoder's order: mirror them, 64-128",
    ),
    "encoder layers reversed": (
        {"encoder": _encoder(order=lambda dims: dims[::-1])},
        "Your encoder's hidden layers are 64-128, in reverse order",
    ),
    "encoder layer skipped": (
        {"encoder": _encoder(skip=True)},
        "the layer of 128 units is missing from the model",
    ),
    "decoder layer skipped": (
        {"decoder": _decoder(skip=True)},
        "the layer of 64 units is missing from the model",
    ),
    "sigmoid on the encoder's hidden layers": (
        {"encoder": _encoder(hidden_activation="sigmoid")},
        "Your hidden layers use a sigmoid",
    ),
    "sigmoid on the decoder's hidden layers": (
        {"decoder": _decoder(hidden_activation="sigmoid")},
        "Your hidden layers use a sigmoid",
    ),
    "no activation on the hidden layers": (
        {"encoder": _encoder(hidden_activation=None), "decoder": _decoder(hidden_activation=None)},
        "one linear map",
    ),
    "elu on the hidden layers": (
        {"encoder": _encoder(hidden_activation="elu")},
        "Your hidden layers use an activation the check cannot name",
    ),
    "tanh on the hidden layers": (
        {"encoder": _encoder(hidden_activation="tanh")},
        "Your hidden layers use tanh",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_recognised_mistake_fails_with_its_own_advice(mistake):
    models, advice = MISTAKES[mistake]
    for seed in SEEDS[:2]:
        result = check(**models, seed=seed)
        assert not result.passed
        assert advice in result.advice, result.advice


@pytest.mark.parametrize(
    ("models", "advice"),
    [
        (
            {"encoder": _encoder_from_the_globals, "decoder": _decoder_from_the_globals},
            "your build_encoder and build_decoder still build the lab's sizes",
        ),
        ({"encoder": _encoder_from_the_globals}, "your build_encoder still builds the lab's"),
        ({"encoder": _encoder_two_layers_by_index}, "your encoder's Dense layers are"),
    ],
    ids=["both from the globals", "encoder from the globals", "two layers by index"],
)
def test_the_hidden_checks_catch_answers_that_only_fit_the_lab_sizes(models, advice):
    assert check(**models).passed  # the visible checks use the lab's sizes only
    result = check(**models, hidden=True)
    assert not result.passed
    assert not result.checks["hidden checks: the same checks on models built with other sizes"]
    assert result.advice.startswith("Called with hidden_dims=(")
    assert advice in result.advice, result.advice


def test_an_output_that_is_some_other_function_is_not_a_sigmoid():
    def decoder(num_pixels, hidden_dims, latent_dim):
        latent = keras.Input(shape=(latent_dim,))
        hidden = latent
        for units in reversed(hidden_dims):
            hidden = Dense(units, activation="relu")(hidden)
        hidden = keras.layers.Dense(num_pixels, activation="sigmoid")(hidden)
        return keras.Model(latent, keras.layers.Lambda(lambda x: 1 - x)(hidden))  # inverted

    result = check(decoder=decoder)
    assert not result.passed
    assert "Your decoder's output is not a sigmoid" in result.advice


def test_a_mistake_that_is_none_of_these_gets_the_first_failed_check():
    def encoder(num_pixels, hidden_dims, latent_dim):
        image = keras.Input(shape=(num_pixels,))
        hidden = keras.layers.BatchNormalization()(image)  # 4 x 784 more parameters
        for units in hidden_dims:
            hidden = Dense(units, activation="relu")(hidden)
        return keras.Model(image, Dense(latent_dim)(hidden))

    result = check(encoder=encoder)
    assert not result.passed
    assert "The first check that fails: parameter counts by the formula" in result.advice


def _nested_encoder(num_pixels, hidden_dims, latent_dim):
    image = keras.Input(shape=(num_pixels,), name="image")
    block = keras.Sequential([Dense(units, activation="relu") for units in hidden_dims])
    return keras.Model(image, Dense(latent_dim, name="code")(block(image)), name="encoder")


def _nested_encoder_with_a_relu_code(num_pixels, hidden_dims, latent_dim):
    image = keras.Input(shape=(num_pixels,), name="image")
    block = keras.Sequential([Dense(units, activation="relu") for units in hidden_dims])
    code = Dense(latent_dim, activation="relu", name="code")(block(image))
    return keras.Model(image, code, name="encoder")


@pytest.mark.parametrize("hidden", [False, True])
def test_hidden_layers_in_a_nested_block_count(hidden):
    # A right answer that builds its hidden layers as a keras.Sequential block passes; a
    # mistake written the same way is still named.
    for seed in SEEDS:
        assert check(_nested_encoder, seed=seed, hidden=hidden).passed
    wrong = check(_nested_encoder_with_a_relu_code, seed=0, hidden=hidden)
    assert not wrong.passed and "Your code layer has a ReLU" in wrong.advice
