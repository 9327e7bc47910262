"""Exercise verdicts the student's code cannot reach, for ``labkit grade --execute``.

After a student's notebook has run, the grader appends one cell per graded exercise. Each cell
hands the student's answer (the names the lab's own check cell passes to
``labkit.check_exercise``) inputs that the grader drew in its own process, from a seed drawn at
grading time, hidden cases included. The kernel sends back what the student's code returned,
as plain data (``labkit.checks.transport``); the grader judges it here, against the kit's
float64 references. A PASS printed in the notebook is the student's feedback, never the grade:
replacing ``report_check``, ``np.allclose`` or IPython's hooks in the kernel changes nothing
here, because the comparison runs in this process.
"""

from __future__ import annotations

import ast
import json
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from labkit_instructor.limits import DEFAULT_MEMORY_MEGABYTES

MEASURE_SECONDS = 300  # for one notebook's models: a wide margin over the labs' own

__all__ = [
    "GraderCheck",
    "ModelsCheck",
    "answer_names",
    "grader_checks",
    "judge_outputs",
    "measure_again",
    "models_check",
]


@dataclass(frozen=True)
class GraderCheck:
    """One exercise's check: the inputs drawn here and the cell the kernel runs on them."""

    name: str
    nonce: str
    inputs: dict
    source: str


def answer_names(check_source: str) -> dict[str, list[str]]:
    """``{exercise: [answer expressions]}`` of the ``check_exercise(...)`` calls in a cell."""
    try:
        tree = ast.parse(check_source)
    except SyntaxError:
        return {}
    found = {}
    for node in ast.walk(tree):
        func = getattr(node, "func", None)
        called = getattr(func, "attr", None) or getattr(func, "id", None)
        if isinstance(node, ast.Call) and called == "check_exercise" and node.args:
            first, *rest = node.args
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found[first.value] = [ast.get_source_segment(check_source, arg) for arg in rest]
    return found


def grader_checks(answers: Mapping[str, list[str]], exercises: Mapping) -> list[GraderCheck]:
    """A check for each exercise the kit can judge, on inputs drawn now from a secret seed."""
    import numpy as np

    from labkit.checks.transport import encode

    checks = []
    for name, expressions in answers.items():
        if name not in exercises or not all(expressions):
            continue
        nonce = secrets.token_hex(16)
        inputs = exercises[name].draw(np.random.default_rng(secrets.randbits(128)), True)
        payload = json.dumps(encode(inputs))
        source = (
            "import json as _json\n"
            "from labkit.checks.transport import answer_for_grader as _answer\n"
            f"_answer({name!r}, {nonce!r}, _json.loads({payload!r}), {', '.join(expressions)})"
        )
        checks.append(GraderCheck(name, nonce, inputs, source))
    return checks


def judge_outputs(
    checks: list[GraderCheck], outputs: list[list[dict]], exercises: Mapping
) -> dict[str, dict]:
    """Each check's record ``{"passed", "checks", "advice"}``, judged from its cell's outputs."""
    from labkit.checks.transport import decode

    records = {}
    for check, cell_outputs in zip(checks, outputs, strict=True):
        mine = _sent(cell_outputs, check.nonce)
        records[check.name] = _record(check, mine, cell_outputs, exercises, decode)
    return records


def _sent(cell_outputs: list[dict], nonce: str) -> list:
    """The messages a grader's cell sent back with its ``nonce``: what the kernel answered."""
    from labkit.checks.transport import ANSWERS_MIME_TYPE

    sent = [
        output["data"][ANSWERS_MIME_TYPE]
        for output in cell_outputs
        if isinstance(output.get("data"), dict) and ANSWERS_MIME_TYPE in output["data"]
    ]
    return [
        message for message in sent if isinstance(message, dict) and message.get("nonce") == nonce
    ]


def _expressions(specs: Mapping[str, Mapping]) -> list[str]:
    """The models the results of ``specs`` are measured on, each once, in order."""
    return list(dict.fromkeys(spec["model"] for spec in specs.values() if spec.get("model")))


def _record(check: GraderCheck, sent: list, cell_outputs: list, exercises, decode) -> dict:
    if len(sent) != 1:
        errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell_outputs if "ename" in o]
        why = errors[0] if errors else "the cell sent no answer back"
        return _failed(f"the grader's check could not run in the notebook ({why}).")
    message = sent[0]
    if "raised" in message:
        raised = message["raised"] if isinstance(message["raised"], dict) else {}
        advice = raised.get("advice")
        return _failed(advice if isinstance(advice, str) else "your code raised an error.")
    try:
        answers = decode(message.get("answers"))
        verdict = exercises[check.name].judge(check.inputs, answers)
    except Exception as error:  # answers of the wrong shape: the student's code returned them
        return _failed(f"the answers could not be judged ({type(error).__name__}: {error}).")
    checks = {str(what): held is True for what, held in verdict.checks.items()}
    return {"passed": all(checks.values()), "checks": checks, "advice": verdict.advice}


def _failed(advice: str) -> dict:
    return {"passed": False, "checks": {"the grader's check ran": False}, "advice": advice[:500]}


# --- Results measured again, outside the kernel ---

# The Keras classes a lab's encoder or decoder may be rebuilt from: layers without code of
# their own. The student's Sampling layer is replaced by the kit's.
_LAYERS = {"Functional", "Sequential", "InputLayer", "Dense", "Conv2D", "Conv2DTranspose",
           "Reshape", "Flatten", "Concatenate", "Activation", "ReLU", "LeakyReLU", "Dropout",
           "Identity", "Sampling", "DTypePolicy", "FloatDTypePolicy", "GlorotUniform",
           "GlorotNormal", "HeNormal", "HeUniform", "Zeros", "Ones", "Constant",
           "RandomNormal", "RandomUniform", "TruncatedNormal", "__keras_tensor__",
           "__numpy__"}  # fmt: skip


@dataclass(frozen=True)
class ModelsCheck:
    """The cell that sends the lab's models to the grader, and the rubric's measures of them."""

    nonce: str
    source: str
    specs: dict  # result name -> {"model", "measure", "tolerance"}


def models_check(specs: Mapping[str, Mapping]) -> ModelsCheck | None:
    """The cell that sends each model that a result of ``specs`` is measured on."""
    expressions = _expressions(specs)
    if not specs:
        return None
    nonce = secrets.token_hex(16)
    source = (
        "from labkit.checks.transport import models_for_grader as _models\n"
        f"_models({nonce!r}, {', '.join(expressions)})"
    )
    return ModelsCheck(nonce, source, {name: dict(spec) for name, spec in specs.items()})


def measure_again(check: ModelsCheck, cell_outputs: list[dict]) -> dict[str, tuple]:
    """``{result: (value, None) or (None, why)}``: each result measured again, on the grader's
    own test images, on the lab's model rebuilt from what the kernel sent.

    The rebuilding and measuring run in a process of their own, under the sandbox's memory cap
    and a time limit: a model config that asks for a billion units costs that process only.
    """
    mine = _sent(cell_outputs, check.nonce)
    if len(mine) != 1:
        why = "the lab's models were not sent: did the notebook run to its end?"
        return {name: (None, why) for name in check.specs}
    request = json.dumps({"specs": check.specs, "models": mine[0].get("models")})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "labkit_instructor.verdicts"],
            input=request,
            capture_output=True,
            text=True,
            timeout=MEASURE_SECONDS,
            check=False,
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        return {name: (measured[name][0], measured[name][1]) for name in check.specs}
    except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError, TypeError) as error:
        why = f"measuring it failed or ran past {MEASURE_SECONDS} s ({type(error).__name__})"
        return {name: (None, why) for name in check.specs}


def _measure_all(request: dict) -> dict[str, list]:
    """What the measuring process answers: ``{result: [value or None, why or None]}``."""
    import labkit
    from labkit.checks.transport import decode

    data = labkit.load_lab_data(labkit.load_settings())
    specs = request["specs"]
    expressions = _expressions(specs)
    try:
        models = decode(request["models"])
        if not isinstance(models, list) or len(models) != len(expressions):
            raise ValueError("the models sent are not the lab's")
    except ValueError as error:
        return {name: [None, str(error)] for name in specs}
    by_expression = dict(zip(expressions, models, strict=True))
    measured = {}
    for name, spec in specs.items():
        try:
            value = _measure(spec, by_expression.get(spec.get("model")), data)
            measured[name] = [float(value), None]
        except Exception as error:  # a model the kit cannot rebuild or measure
            measured[name] = [None, f"{type(error).__name__}: {error}"[:300]]
    return measured


def _measure(spec: Mapping, sent: object, data) -> float:
    import labkit

    if spec["measure"] == "test_images":
        return float(len(data.x_test))
    if not isinstance(sent, dict) or "error" in sent:
        raise ValueError(sent.get("error") if isinstance(sent, dict) else "no model was sent")
    encoder, decoder = (_rebuild(sent.get(part)) for part in ("encoder", "decoder"))
    _is_the_labs(spec, encoder, decoder)
    if spec["measure"] == "reconstruction_mse":
        model = labkit.models.Autoencoder(encoder, decoder)
        return labkit.evaluate_autoencoder(model, data.x_test)["reconstruction_mse"]
    conditional = len(encoder.inputs) == 2
    model = (labkit.models.ConditionalVAE if conditional else labkit.VAE)(encoder, decoder)
    model.compile()
    labels = data.y_test if conditional else None
    measures = labkit.evaluate_vae(
        model, data.x_test, labels=labels, num_importance_samples=1, iwae_images=1
    )
    return measures[spec["measure"]]


def _is_the_labs(spec: Mapping, encoder, decoder) -> None:
    """Raise ValueError unless the model has the lab's code size and number of parameters: a
    model without the lab's bottleneck measures better, and is not the lab's."""
    code = decoder.inputs[0].shape[-1]
    parameters = encoder.count_params() + decoder.count_params()
    if code != spec.get("latent_dim", code) or parameters != spec.get("parameters", parameters):
        raise ValueError(
            f"the model measured has a code of {code} numbers and {parameters:,} parameters; "
            f"the lab's has {spec.get('latent_dim')} and {spec.get('parameters')}"
        )


def _rebuild(part: object):
    """A Keras model from a config and weights the kernel sent, with the kit's layers only."""
    import labkit
    from labkit.backend import keras

    if not isinstance(part, dict) or not isinstance(part.get("weights"), list):
        raise ValueError("the model sent has no config or weights")
    unknown = _classes(part.get("config")) - _LAYERS
    if unknown:
        raise ValueError(f"the model has layers the grader does not rebuild: {sorted(unknown)}")
    model = keras.saving.deserialize_keras_object(
        part["config"], custom_objects={"Sampling": labkit.Sampling}, safe_mode=True
    )
    model.set_weights(part["weights"])
    return model


def _classes(config: object) -> set[str]:
    found = set()
    if isinstance(config, dict):
        if "class_name" in config:
            found.add(str(config["class_name"]))
        for value in config.values():
            found |= _classes(value)
    elif isinstance(config, list | tuple):
        for value in config:
            found |= _classes(value)
    return found


if __name__ == "__main__":  # the measuring process of measure_again, memory capped first
    if sys.platform != "win32":
        import resource

        cap = DEFAULT_MEMORY_MEGABYTES * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    print(json.dumps(_measure_all(json.loads(sys.stdin.read()))))
