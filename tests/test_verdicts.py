"""Exercise verdicts judged in the grader's process: what the student's kernel cannot rewrite.

The transport (``labkit.checks.transport``) carries only plain data, and a verdict judged from
what crossed it is the verdict judged in the kernel; a lab graded with ``--execute`` (Lab 01's
exercise, in the tests' tiny lab around it) then gives no points to a wrong answer that rewrites
the kernel's own checks.
"""

from __future__ import annotations

import base64
import json
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from tiny_lab import _cell, _student, build_binarize_lab

import labkit
from labkit.checks import EXERCISES
from labkit.checks.transport import decode, encode
from labkit_instructor.verdicts import answer_names
from tests import (
    test_checks_lab01,
    test_checks_lab02,
    test_checks_lab03,
    test_checks_lab04,
    test_checks_lab05,
    test_checks_lab06,
    test_checks_lab07,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ANSWERS = {
    "binarize": (test_checks_lab01.binarize,),
    "autoencoder_layers": (
        test_checks_lab02.build_encoder,
        test_checks_lab02.build_decoder,
        test_checks_lab02.HIDDEN_DIMS,
        test_checks_lab02.LATENT_DIM,
    ),
    "sampling": (test_checks_lab03.Sampling,),
    "vae_loss": (test_checks_lab03.VAE,),
    "test_step": (test_checks_lab03.VAE,),
    "beta_loss": (test_checks_lab05.BetaVAE,),
    "fraction_within": (test_checks_lab04.fraction_within,),
    "fitted_gaussian": (test_checks_lab04.sample_from_fitted_gaussian,),
    "slerp": (test_checks_lab06.slerp,),
    "conditional_inputs": (test_checks_lab07.ConditionalVAE,),
}
WRONG = {
    "binarize": (test_checks_lab01._inverted,),
    "fraction_within": (lambda codes, radius: 0.5,),
    "slerp": (test_checks_lab06._no_clip,),
}


def _sent(value):
    """``value`` as the grader receives it: encoded, through JSON, decoded."""
    return decode(json.loads(json.dumps(encode(value))))


CASES = [(name, answer, True) for name, answer in ANSWERS.items()]
CASES += [(name, answer, False) for name, answer in WRONG.items()]


@pytest.mark.parametrize(
    ("name", "answer", "right"),
    CASES,
    ids=[f"{n}-{'right' if r else 'wrong'}" for n, _, r in CASES],
)
def test_a_verdict_judged_from_the_sent_answers_is_the_kernels_verdict(name, answer, right):
    exercise = EXERCISES[name]
    inputs = exercise.draw(np.random.default_rng(7), True)
    answers = exercise.run(_sent(inputs), *answer)
    here, there = exercise.judge(inputs, answers), exercise.judge(inputs, _sent(answers))
    assert here == there
    assert all(here.checks.values()) is right


def test_every_exercise_is_tried_through_the_transport():
    assert set(ANSWERS) == set(EXERCISES)


def test_values_keep_their_types_shapes_and_bits():
    value = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "t": (1, 2.5, None, "x", True),
        "l": [np.float64(np.nan), np.array([], dtype=np.int64).reshape(0, 4)],
    }
    back = _sent(value)
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], value["a"])
    assert back["t"] == (1, 2.5, None, "x", True) and isinstance(back["t"], tuple)
    assert np.isnan(back["l"][0]) and back["l"][1].shape == (0, 4)
    assert isinstance(back["l"][0], np.float64)  # a scalar stays a scalar


@pytest.mark.parametrize(
    "value",
    [np.array([object()]), np.array(["text"]), {1: object()}, labkit],
    ids=["object array", "string array", "object", "module"],
)
def test_only_numbers_and_plain_data_can_be_sent(value):
    with pytest.raises(TypeError, match="cannot send"):
        encode(value)


def _array(dtype: str, shape: list, raw: bytes) -> dict:
    return {"array": {"dtype": dtype, "shape": shape, "data": base64.b64encode(raw).decode()}}


@pytest.mark.parametrize(
    "message",
    [
        _array("object", [1], pickle.dumps(object())),
        _array("float64", [4], b"\0" * 8),  # fewer bytes than the shape says
        _array("float64", [-1], b""),
        _array("float64", [2**40], b""),  # beyond the size limit
        {"pickle": base64.b64encode(pickle.dumps([1])).decode()},
        {"dict": {"a": 1}, "list": []},
        [1, 2],
    ],
    ids=["object dtype", "short", "negative shape", "huge", "pickle", "two kinds", "bare list"],
)
def test_a_damaged_or_hostile_message_is_refused(message):
    with pytest.raises(ValueError):
        decode(message)


def test_the_answers_are_the_names_the_check_cell_passes():
    source = (
        "run_hidden_checks = False\n"
        'labkit.check_exercise("autoencoder_layers", build_encoder, build_decoder,'
        " hidden=run_hidden_checks)"
    )
    assert answer_names(source) == {"autoencoder_layers": ["build_encoder", "build_decoder"]}
    assert answer_names("print(") == {} and answer_names("check_exercise()") == {}


# --- A kit exercise graded with --execute: the kernel's own checks rewritten ---

WRONG_BINARIZE = "def binarize(images, threshold=0.5):\n    return np.zeros_like(images)\n"
# Each attack makes the notebook's own check print PASS for the wrong answer above.
ATTACKS = {
    "report_check rewritten": (
        "_real = labkit.reporting.report_check\n"
        "labkit.reporting.report_check = lambda name, checks, advice=None: _real(\n"
        "    name, {what: True for what in checks})\n"
        "import labkit.checks\n"
        "labkit.checks.report_check = labkit.reporting.report_check\n"
    ),
    "np.allclose replaced": (
        "np.allclose = lambda *args, **kwargs: True\n"
        "np.array_equal = lambda *args, **kwargs: True\n"
        "import math\n"
        "math.isclose = lambda *args, **kwargs: True\n"
    ),
    "display rewritten by a hook": (
        "_publish = get_ipython().display_pub.publish\n"
        "def _passed(data, *args, **kwargs):\n"
        "    record = data.get('application/vnd.labkit.check+json')\n"
        "    if record:\n"
        "        checks = {what: True for what in record['checks']}\n"
        "        data = {**data, 'application/vnd.labkit.check+json':\n"
        "                {**record, 'passed': True, 'checks': checks}}\n"
        "    return _publish(data, *args, **kwargs)\n"
        "get_ipython().display_pub.publish = _passed\n"
        "get_ipython().events.register('post_run_cell', lambda result: None)\n"
    ),
}


def test_rewriting_the_kernels_checks_earns_nothing_under_execute(tmp_path, sandbox):
    import labkit_instructor

    lab = build_binarize_lab(tmp_path)  # Lab 01's binarize exercise and check cell, nothing else
    grader = labkit_instructor.Grader(lab["rubrics"], lab["source"], execute=True, sandbox=sandbox)

    def answered(name: str, source: str) -> Path:
        def write(notebook: dict) -> None:
            _cell(notebook, "def binarize")["source"] = source

        return _student(lab, name.replace(" ", "_"), write, solved=True)

    honest = grader.grade(answered("honest", WRONG_BINARIZE))
    honest_points = {item.id: item.points for item in honest.items}
    assert honest_points["exercise_binarize"] == 0
    for attack, code in ATTACKS.items():
        report = grader.grade(answered(attack, WRONG_BINARIZE + code))
        points = {item.id: item.points for item in report.items}
        assert points["exercise_binarize"] == 0, (attack, report.feedback())
        assert sum(points.values()) <= sum(honest_points.values()), (attack, report.feedback())
    solved = grader.grade(lab["source"] / f"{lab['name']}.ipynb")
    assert {i.id: i.points for i in solved.items}["exercise_binarize"] == 11, solved.feedback()


# --- The student's own cells, read for code that reaches into the grading ---

TRICKS = {
    "labkit.report_check = lambda *a, **k: None": ("uses the kit's reporting", "tampering"),
    "report_results({'test_negative_elbo_nats': 80.0})": ("uses the kit's reporting", "tampering"),
    "np.allclose = lambda *a, **k: True": ("replaces np.allclose", "tampering"),
    "import math\nsetattr(math, 'isclose', max)": ("dynamically (setattr)", "tampering"),
    "get_ipython().events.register('post_run_cell', print)": ("hooks into IPython", "tampering"),
    "exec('np.allclose = max')": ("dynamically (exec)", "tampering"),
    "%run other.py": ("runs %run", "tampering"),
    "!cp /tmp/x .": ("runs !cp", "tampering"),
    "test_measures = {'negative_elbo': 80.0}": ("assigns test_measures", "tampering"),
    "test_measures['negative_elbo'] = 80.0": ("changes test_measures", "tampering"),
    "history.history['loss'].append(1.0)": ("changes history", "tampering"),
    "def f():\n    global history\n    history = None": ("assigns history", "tampering"),
    "import socket\nif socket.gethostname() == 'sandbox': pass": (
        "reads the machine",
        "suspicious",
    ),
    "import os\nos.environ.get('HOME')": ("reads the machine", "suspicious"),
    "class Sampling(labkit.Sampling):\n    pass": ("reference labkit.Sampling", "suspicious"),
    "from labkit.models import Sampling": ("imports from labkit.models", "tampering"),
    "from labkit import Sampling": ("imports the kit's reference Sampling", "suspicious"),
    "class _Kit:\n    pass\nlabkit = _Kit()": ("rebinds labkit", "tampering"),
    "import inspect\nif inspect.stack()[1].function == 'run': pass": ("stack", "tampering"),
    # What a hostile student tried against the first version of this reading:
    "import labkit.checks.transport as T\nT.__dict__['answer_for_grader'] = print": (
        "imports labkit.checks.transport",
        "tampering",
    ),
    "import numpy as N\nN.array_equal = max": ("replaces N.array_equal", "tampering"),
    "numpy.__dict__['array_equal'] = max": ("Python's internals (__dict__)", "tampering"),
    "import traceback\nprint([f.f_locals for f, _ in traceback.walk_stack(None)])": (
        "walk_stack",
        "tampering",
    ),
    "import sys\nframe = getattr(sys, '_get' + 'frame')": ("a computed name", "tampering"),
    "kit = getattr(labkit, 'build_' + 'autoencoder')": ("a computed name", "tampering"),
    "print(open('/proc/self/environ').read())": ("reads the machine", "suspicious"),
    "import sys\nsys.meta_path.insert(0, None)": ("meta_path", "tampering"),
    "import helper_i_wrote": ("imports helper_i_wrote, which the labs do not use", "tampering"),
    "import threading\nthreading.Thread(target=print).start()": ("Thread", "tampering"),
    "autoencoder = keras.Model(image, decoder(encoder(image)))": (
        "assigns autoencoder",
        "tampering",
    ),
    "%\udc80": ("runs %\\udc80", "tampering"),
    # ... and the second round:
    "setter = getattr(print.__self__, 'setattr')": ("Python's internals (__self__)", "tampering"),
    "getattr(builtins_module, 'exec')('x = 1')": ("dynamically (exec)", "tampering"),
    "from builtins import exec as run": ("imports from builtins", "tampering"),
    "from IPython import get_ipython as g": ("hooks into IPython", "tampering"),
    "z = np\nz.array_equal = max": ("replaces z.array_equal", "tampering"),
    "h = history\nh.history['loss'][0] = 9.0": ("changes h", "tampering"),
    "test_measures.__ior__({'negative_elbo': 80.0})": ("Python's internals", "tampering"),
    "import functools\nget = functools.partial(getattr, np)": ("passes getattr", "tampering"),
    "import pickle": ("imports pickle, which the labs do not use", "tampering"),
    "arrays = np.load('x.npy', allow_pickle=True)": ("allow_pickle=True", "tampering"),
    # ... and the third:
    "import string\nrun = string.Formatter().get_field('0.__self__.exec', [print], {})[0]": (
        "imports string",
        "tampering",
    ),
    "get = Lookup().get_field('0.__self__.exec', [print], {})": (
        "__self__, in a string",
        "tampering",
    ),
    "import functools": ("imports functools", "tampering"),
    "def f():\n    pass\n\ngetattr(f, '__globals__')['test_errors'] = 0": (
        "internals (__globals__)",
        "tampering",
    ),
    "m = [np][0]\nm.array_equal = max": ("replaces m.array_equal", "tampering"),
    "h = [history][0]\nh.history['loss'] = [0.0]": ("changes h", "tampering"),
    "a = (lambda: autoencoder)()\na.set_weights([])": ("changes a", "tampering"),
    "np.copyto(test_measures, 0.0)": ("changes test_measures", "tampering"),
    "np.multiply(test_measures, 0, out=test_measures)": ("changes test_measures", "tampering"),
    # ... and the fourth:
    "b = getattr(*(print, '__se' + 'lf__'))": ("a computed name", "tampering"),
    "print(np._core._methods.os.popen('id').read())": ("private parts (_core)", "tampering"),
    "op = numpy_module.operator": ("attribute (operator)", "tampering"),
    "def f(m):\n    m.array_equal = max\n\n\nf(np)": ("replaces m.array_equal", "tampering"),
    "match np:\n    case m:\n        m.array_equal = max": ("replaces m.array_equal", "tampering"),
    "[w.assign(w * 0) for w in autoencoder.weights]": ("changes w", "tampering"),
    "def f(e):\n    e[:] = 0\n\n\nf(test_measures)": ("changes e", "tampering"),
    "(lambda e=test_measures: e.fill(0))()": ("changes e", "tampering"),
    "class C:\n    h = history\n\n\nC.h.history.clear()": ("changes C", "tampering"),
    # ... and the fifth: IPython's syntax (the regex missed it, or the cell did not parse)
    "x = !true\nnp.allclose = max": ("replaces np.allclose", "tampering"),  # x = !cmd
    "np.allclose = max\nnp.mean?": ("replaces np.allclose", "tampering"),  # help escape
    "%config InlineBackend.figure_format = exec('np.allclose = max') or 'png'": (
        "runs %config",  # IPython runs %config's argument with exec
        "tampering",
    ),
    "%matplotlib module://my_backend": ("runs %matplotlib", "tampering"),  # imports a module
    "%time np.allclose = max": ("replaces np.allclose", "tampering"),  # timed code
    "%%timeit np.allclose = max\npass": ("replaces np.allclose", "tampering"),  # setup line
    "%%capture labkit\npass": ("rebinds labkit", "tampering"),  # capture assigns its name
    # ... aliases the fourth round did not follow
    "(m := np).allclose = max": ("replaces (m := np).allclose", "tampering"),  # walrus
    "def g():\n    return np\n\n\ng().allclose = max": ("replaces g().allclose", "tampering"),
    "def g():\n    yield np\n\n\nfor m in g():\n    m.allclose = max": (
        "replaces m.allclose",  # a generator's yield
        "tampering",
    ),
    "m = next(iter([np.linalg]))\nm.norm = max": ("replaces m.norm", "tampering"),
    "kept = []\nkept.append(np)\nkept[0].allclose = max": ("replaces kept[0]", "tampering"),
    "kept = {}\nkept['n'] = np\nkept['n'].allclose = max": ("replaces kept['n']", "tampering"),
    "[np][0].allclose = max": ("replaces [np][0].allclose", "tampering"),  # a literal's item
    "def f(self):\n    self.allclose = max\n\n\nf(np)": ("replaces self.allclose", "tampering"),
    "class C:\n    def __init__(self):\n        self.n = np\n        self.n.allclose = max": (
        "replaces self.n.allclose",  # kept in self
        "tampering",
    ),
    "class C:\n    def __init__(self):\n        self.h = history\n        self.h.history.clear()": (
        "changes self.h",
        "tampering",
    ),
    "class P:\n    def __init__(self, h):\n        h.history.clear()\n\n\nP(history)": (
        "changes h",  # a class called with it
        "tampering",
    ),
    "class C:\n    def f(self, m):\n        m.allclose = max\n\n\nC().f(np)": (
        "replaces m.allclose",  # a method called with it
        "tampering",
    ),
    "def f(m):\n    m.allclose = max\n\n\nf(m=np)": ("replaces m.allclose", "tampering"),
    "@(lambda f: np)\ndef m():\n    pass\n\n\nm.allclose = max": (
        "replaces m.allclose",  # a decorator's result
        "tampering",
    ),
    "match [np]:\n    case [*ms]:\n        ms[0].allclose = max": ("replaces ms[0]", "tampering"),
    "try:\n    raise ValueError(np)\nexcept ValueError as e:\n    e.args[0].allclose = max": (
        "replaces e.args[0].allclose",  # what was raised
        "tampering",
    ),
    "type(history).history = property(lambda s: {'loss': [1.0, 0.1]})": (
        "changes history",  # its class, through type()
        "tampering",
    ),
    "a, (b, *history) = 1, (2, 3)": ("assigns history", "tampering"),  # nested, starred
    "def get_ipython():\n    return None": ("rebinds get_ipython", "tampering"),
    "import math as labkit": ("rebinds labkit (to math)", "tampering"),
    # ... loaders and imports
    "arrays = np.load('x.npy', None, True)": ("load with arguments by position", "tampering"),
    "arrays = np.load('x.npy', **{'allow_' + 'pickle': True})": (
        "load with arguments by position",
        "tampering",
    ),
    "model = keras.saving.load_model('m.keras', None, True, False)": (
        "load_model with arguments by position",  # safe_mode=False
        "tampering",
    ),
    "from keras.src.utils.python_utils import func_load": (
        "imports from keras.src.utils.python_utils",  # unmarshals code
        "tampering",
    ),
    "import tensorflow.python.util.tf_inspect as ti": ("imports tensorflow.python", "tampering"),
    "from numpy._core import umath": ("imports from numpy._core", "tampering"),
    "f = keras.src.utils.python_utils.func_load": ("private parts (src)", "tampering"),
    "print(plt.inspect.stack()[1])": ("attribute (inspect)", "tampering"),
    "autoencoder.fit(test_images, test_images, epochs=50)": ("changes autoencoder", "tampering"),
}
HONEST = [
    "history = model.fit(x)",  # not a name the Result cell reads in this scan
    "for m in range(3):\n    print(m)",
    "errors = np.abs(x - y)\nprint(history.history['loss'][-1])",
    "class VAE(labkit.VAE):\n    def call(self, x):\n        self.seen = x\n        return x",
    "checks = {'mine': True}\nevents = []\nnode = 3",
    "import numpy as np\nimport labkit\nfrom keras import ops",
    "%matplotlib inline\n%time total = 1 + 1",
    '"""The environment of the lab, explained."""\nclass A:\n    name = "A"',
    "from IPython.display import display\nimport math\ndisplay([math.pi])",
    "class Stats:\n    mean = 1.0\n\nprint(getattr(Stats(), 'mean'))",
    "losses = history.history['loss']\nplt.plot(losses)\nprint(min(losses))",
    "best = np.min(history.history['loss'])\nbest += 0.0\nprint(f'{best:.2f}', 'figure.png')",
    "def plot(h):\n    plt.plot(h.history['loss'])\n\n\nplot(history)\n"
    "print([len(w.shape) for w in autoencoder.weights])",
    "class VAE(keras.Model):\n    def __init__(self, encoder):\n        super().__init__()\n"
    "        self.encoder = encoder",
    # Ordinary code near the fifth round's rules: IPython's syntax, calls, self, containers
    "%timeit -n 3 -r 1 np.mean(np.arange(10))\n%config InlineBackend.figure_format = 'retina'",
    "%%capture out\nprint('quiet')",
    "%%time\nx = np.arange(1000)\nx[:10] = 0",
    "np.mean?",
    "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
    "model.compile(optimizer='adam', loss='mse')\nmodel.fit(x, y, epochs=1)",
    "layer = keras.layers.Dense(4, activation=ops.relu)\nlayer.trainable = False",
    "grid = np.stack(np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-2, 2, 5)), -1)\n"
    "grid[0, 0] = 9.0",
    "codes = np.load('codes.npy')\nagain = keras.saving.load_model('model.keras')",
    "with open('notes.txt', 'w', encoding='utf-8') as f:\n    f.write('done')",
    "try:\n    value = float('x')\nexcept ValueError as error:\n    print(f'no: {error}')",
    "class Counter:\n    def __init__(self):\n        self.count = 0\n"
    "        self.values = np.zeros(3)\n\n    def add(self, x):\n        self.count += 1\n"
    "        self.values[0] = x\n        return self.values",
    "total = 0\n\n\ndef add(x):\n    global total\n    total += x\n\n\nadd(3)",
    "images = np.zeros((4, 28, 28))\nimages[:, :14] = 1.0\nimages[images > 0.5] = 1",
    "def batches(x, size):\n    for start in range(0, len(x), size):\n"
    "        yield x[start : start + size]\n\n\nfor batch in batches(np.arange(10), 3):\n"
    "    batch[0] = 0",
    "rows = []\nfor name in ['negative_elbo', 'kl_loss']:\n    rows.append(test_measures[name])\n"
    "rows.sort()\ntable = {}\ntable['kl'] = test_measures['kl_loss']\ntable['kl'] = 0",
    "fig, axes = plt.subplots(1, 2)\naxes[0].set_title(f'{len(test_measures)} measures')",
    "from tensorflow import keras\nimport matplotlib.pyplot as plt\nfrom keras import layers, ops",
]


@pytest.mark.parametrize("source", TRICKS, ids=list(TRICKS))
def test_each_trick_is_found_and_named(source):
    from labkit_instructor.tamper import scan

    expected, kind = TRICKS[source]
    found = scan([(7, source)], {"test_measures", "history", "autoencoder"}, {"VAE"})
    assert any(expected in f.what and f.kind == kind and f.cell == 7 for f in found), found


@pytest.mark.parametrize("source", HONEST)
def test_honest_code_raises_no_finding(source):
    from labkit_instructor.tamper import scan

    assert scan([(3, source)], {"test_measures"}, {"VAE"}) == []


@pytest.mark.parametrize("lab", sorted(p.stem for p in NOTEBOOKS.glob("0*.ipynb")))
def test_the_kit_s_own_solutions_raise_no_finding(lab):
    import labkit_instructor

    report = labkit_instructor.Grader(source=NOTEBOOKS, lab=lab).grade(NOTEBOOKS / f"{lab}.ipynb")
    assert report.notes == [] and report.points == report.max_points, report.feedback()


def test_a_model_swapped_in_before_it_is_measured_costs_the_result():
    import labkit_instructor

    lab = "02_autoencoder"
    notebook = json.loads((NOTEBOOKS / f"{lab}.ipynb").read_text(encoding="utf-8"))
    at = next(
        i for i, c in enumerate(notebook["cells"]) if "test_errors = " in "".join(c["source"])
    )
    swap = "autoencoder = keras.Model(image, image)  # the identity: a perfect test MSE"
    notebook["cells"].insert(at, {"cell_type": "code", "metadata": {}, "source": swap,
                                  "outputs": [], "execution_count": 1})  # fmt: skip
    path = Path(tempfile.mkdtemp()) / f"{lab}.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    report = labkit_instructor.Grader(source=NOTEBOOKS).grade(path)
    points = {item.id: item.points for item in report.items}
    assert points["test_mse"] == 0 and points["exercise_autoencoder_layers"] == 0
    assert any("assigns autoencoder, which the lab's results come from" in n for n in report.notes)


def test_measuring_that_runs_too_long_costs_its_result_only(monkeypatch):
    from labkit.checks.transport import ANSWERS_MIME_TYPE
    from labkit_instructor import verdicts

    monkeypatch.setattr(verdicts, "MEASURE_SECONDS", 0.5)
    check = verdicts.models_check({"test_mse": {"model": "m", "measure": "reconstruction_mse"}})
    message = {"nonce": check.nonce, "models": encode([{"error": "never read"}])}
    outputs = [{"output_type": "display_data", "data": {ANSWERS_MIME_TYPE: message}}]
    value, why = verdicts.measure_again(check, outputs)["test_mse"]
    assert value is None and "ran past 0.5 s" in why


def test_the_result_cell_s_own_loop_variables_are_not_guarded():
    from labkit_instructor.tamper import reported_names

    source = "report({f'{m}': measures[m] for m in names}, len(x))"
    assert reported_names(source) == {"measures", "names", "x", "report"}


# --- Results measured again by the grader ---

MADE_UP = (
    "test_errors['reconstruction_mse'] = 0.001  # made up\n"
    "labkit.report_results({'test_mse': 0.001, 'first_epoch_train_mse': 1.0,"
    " 'final_train_mse': 0.001})"
)


def test_made_up_results_earn_nothing_and_the_grader_s_measure_counts(tmp_path, sandbox):
    import dataclasses

    import labkit_instructor
    from labkit_instructor.rubrics import load_rubrics

    rubrics = load_rubrics()
    lab = "02_autoencoder"
    items = tuple(  # quick mode's test MSE (about 0.04) passes this looser limit
        dataclasses.replace(item, options={**item.options, "max": 0.06})
        if item.id == "test_mse"
        else item
        for item in rubrics[lab].items
    )
    rubrics = {lab: dataclasses.replace(rubrics[lab], items=items)}
    source = Path(__file__).resolve().parents[1] / "notebooks"
    grader = labkit_instructor.Grader(rubrics, source, execute=True, sandbox=sandbox)
    notebook = json.loads((source / f"{lab}.ipynb").read_text(encoding="utf-8"))
    honest_path = tmp_path / "honest" / f"{lab}.ipynb"
    honest_path.parent.mkdir()
    honest_path.write_text(json.dumps(notebook), encoding="utf-8")
    at = next(
        i for i, c in enumerate(notebook["cells"]) if "test_errors = " in "".join(c["source"])
    )
    notebook["cells"].insert(at + 1, {"cell_type": "code", "metadata": {}, "source": MADE_UP,
                                      "outputs": [], "execution_count": None})  # fmt: skip
    forged_path = tmp_path / "forged" / f"{lab}.ipynb"
    forged_path.parent.mkdir()
    forged_path.write_text(json.dumps(notebook), encoding="utf-8")

    honest, forged = grader.grade(honest_path), grader.grade(forged_path)
    honest_items = {item.id: item for item in honest.items}
    forged_items = {item.id: item for item in forged.items}
    assert honest_items["test_mse"].points == 2, honest.feedback()
    assert forged_items["test_mse"].points == 0, forged.feedback()
    assert forged_items["loss_decreased"].points == 0
    assert "cell" in forged_items["test_mse"].feedback  # the finding, with its cell
    assert any("changes test_errors, which the lab's results come from" in n for n in forged.notes)
    assert forged.points < honest.points


def test_a_result_cell_that_reports_another_number_than_measured_earns_nothing():
    from labkit_instructor.checks import CHECKS, Submission
    from labkit_instructor.grading import _check_measured
    from labkit_instructor.rubrics import load_rubrics

    item = next(i for i in load_rubrics()["02_autoencoder"].items if i.id == "test_mse")
    submission = Submission({"cells": []}, {"test_mse": 0.001}, {})
    check = CHECKS[item.check]
    passed, feedback = _check_measured(check, submission, item, (0.041, None))
    assert not passed and "reports test_mse = 0.001, but the grader measured 0.041" in feedback
    assert _check_measured(check, submission, item, (0.00105, None))[0]  # within tolerance
    passed, feedback = _check_measured(check, submission, item, (None, "no model was sent"))
    assert not passed and "could not measure test_mse itself (no model was sent)" in feedback


def test_a_hostile_model_costs_its_own_result_only():
    from labkit.backend import keras
    from labkit.checks.transport import ANSWERS_MIME_TYPE
    from labkit_instructor.verdicts import measure_again, models_check

    autoencoder = labkit.build_autoencoder(latent_dim=2, hidden_dims=(8,))
    encoder, decoder = labkit.models.encoder_and_decoder(autoencoder)

    def sent(model, edit=None):
        config = keras.saving.serialize_keras_object(model)
        if edit:
            edit(config)
        return {"config": config, "weights": model.get_weights()}

    def huge(config):  # a billion units: building it would take 3 TB
        layer = next(la for la in config["config"]["layers"] if la["class_name"] == "Dense")
        layer["config"]["units"] = 10**9

    def code(config):  # a Lambda layer runs code when it is rebuilt
        layer = next(la for la in config["config"]["layers"] if la["class_name"] == "Dense")
        layer["class_name"] = "Lambda"

    lab = {"measure": "reconstruction_mse", "latent_dim": 2}
    lab["parameters"] = autoencoder.count_params()
    names = ("honest", "huge", "code", "wide")
    check = models_check({name: {**lab, "model": name} for name in names})
    wide = labkit.build_autoencoder(latent_dim=8, hidden_dims=(8,))  # no 2-number bottleneck
    models = [
        {"encoder": sent(encoder), "decoder": sent(decoder)},
        {"encoder": sent(encoder, huge), "decoder": sent(decoder)},
        {"encoder": sent(encoder, code), "decoder": sent(decoder)},
        dict(
            zip(
                ("encoder", "decoder"),
                map(sent, labkit.models.encoder_and_decoder(wide)),
                strict=True,
            )
        ),
    ]
    message = {"nonce": check.nonce, "models": encode(models)}
    measured = measure_again(check, [{"output_type": "display_data",
                                      "data": {ANSWERS_MIME_TYPE: message}}])  # fmt: skip
    assert measured["honest"][0] == pytest.approx(
        labkit.evaluate_autoencoder(
            autoencoder, labkit.load_lab_data(labkit.load_settings()).x_test
        )["reconstruction_mse"],
        rel=1e-5,
    )
    assert measured["huge"][0] is None and "Error" in measured["huge"][1]
    assert measured["code"][0] is None and "does not rebuild: ['Lambda']" in measured["code"][1]
    assert measured["wide"][0] is None and "a code of 8 numbers" in measured["wide"][1]
