"""Reading the student's own cells for code that reaches into the grading.

The grader never runs this code to find out: it reads the source (``ast``) of every code cell
that is not one of the lab's locked cells (solution cells, cells the student added, locked
cells they changed). Each finding names its cell and is one of two kinds:

* ``tampering``: calling, importing or replacing the kit's reporting and checks; replacing a
  module's function (``np.allclose = ...``, under any name the module is given) or rebinding
  ``labkit``; hooking IPython or the interpreter (display, events, tracing, frames,
  ``sys.meta_path``); dynamic code (``exec``, ``__import__``, ``getattr`` with a computed or a
  forbidden name, Python's double-underscore internals, unpickling); importing a module the labs
  do not use; magics other than timing and plotting ones; writing a variable that the Result
  cell reports or a model that the grader measures, under any name it is given;
* ``suspicious``: reading the machine's identity or environment (how a submission could tell
  that it is being graded), and using the kit's own reference implementations.

A finding is a note on the student's row; ``tampering`` also costs the result and exercise
points (see ``labkit_instructor.grading``). It is a reading, not a proof: the instructor decides.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

__all__ = ["Finding", "kit_names", "reported_names", "scan", "written_names"]

KIT_REPORTING = {"report_check", "report_results", "check_exercise", "answer_for_grader",
                 "models_for_grader", "EXERCISES", "checks", "reporting", "transport"}  # fmt: skip
# The kit's reference implementations: a student's answer that calls them is flagged.
KIT_REFERENCES = {"Sampling", "VAE", "ConditionalVAE", "Autoencoder", "build_vae",
                  "build_autoencoder", "build_conditional_vae", "models", "kl_divergence",
                  "summed_binary_crossentropy", "encoder_and_decoder"}  # fmt: skip
HOOKS = {"get_ipython", "stack", "currentframe", "f_back", "extract_stack", "getouterframes",
         "display_pub", "display_formatter", "displayhook", "events", "run_line_magic",
         "run_cell_magic", "register_magic_function", "settrace", "setprofile", "monitoring",
         "InteractiveShell", "set_custom_exc", "showtraceback", "walk_stack", "f_locals",
         "f_globals", "gi_frame", "tb_frame", "f_code", "meta_path", "path_hooks", "Thread",
         "Popen", "system", "fork", "enable_unsafe_deserialization"}  # fmt: skip
DYNAMIC = {"exec", "eval", "compile", "__import__", "globals", "locals", "vars", "setattr",
           "delattr", "breakpoint", "modules", "_getframe", "get_objects", "get_referrers",
           "run_path", "run_module", "FunctionType", "CodeType"}  # fmt: skip
ENVIRONMENT = {"gethostname", "node", "uname", "environ", "getenv", "getuser", "getlogin",
               "getpid", "getppid"}  # fmt: skip
MUTATING = {"update", "append", "extend", "insert", "pop", "clear", "setdefault", "popitem",
            "remove", "sort", "reverse", "fill", "resize", "put", "assign", "set_weights",
            "load_weights"}  # fmt: skip
# The modules a student's cell may import: what the labs use, and a few harmless helpers.
# Anything else is tampering: pickle, inspect, sys, os, but also string (Formatter.get_field is
# a getattr by string) and functools (update_wrapper is a setattr by string).
IMPORTABLE = {"numpy", "matplotlib", "keras", "tensorflow", "labkit", "math", "random",
              "itertools", "statistics", "time", "IPython.display"}  # fmt: skip
# Double-underscore names a lab's code uses; any other is Python's internals.
PLAIN_DUNDERS = {"__init__", "__name__", "__doc__", "__call__", "__len__", "__repr__",
                 "__str__", "__getitem__", "__iter__", "__future__"}  # fmt: skip
# Attributes that look names up, and standard modules that libraries keep as attributes
# (``np._core.numeric.builtins``): reaching them is reaching what IMPORTABLE leaves out.
ATTRIBUTE_FINDERS = {"getattr", "attrgetter", "methodcaller", "itemgetter", "get_field",
                     "update_wrapper"}  # fmt: skip
HIDDEN_MODULES = {"builtins", "os", "sys", "inspect", "pickle", "marshal", "operator",
                  "ctypes", "functools", "importlib", "subprocess", "runpy", "types", "gc",
                  "threading", "traceback", "shutil", "socket"}  # fmt: skip
# NumPy functions that write into their first argument.
IN_PLACE = {"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis"}
_NAME_PATH = re.compile(r"[\w.\[\]]*__\w+__[\w.\[\]]*|[\w\[\]]+(\.[\w\[\]]+)+")
# Arguments that turn loading data into running code.
UNSAFE_ARGUMENTS = {("allow_pickle", True), ("safe_mode", False)}
# Names a student's cell must not point elsewhere: the kit, and what its checks compute with.
KIT_NAMES = {"labkit", "np", "numpy", "keras", "ops", "tf", "math", "report_check",
             "report_results", "check_exercise"}  # fmt: skip
# The names a lab's cells give modules (a student's own ``import numpy as N`` adds to them).
MODULE_NAMES = {"np", "numpy", "math", "labkit", "keras", "tf", "tensorflow", "plt",
                "matplotlib", "ops", "random", "functools", "itertools", "collections"}  # fmt: skip
_FORBIDDEN = KIT_REPORTING | HOOKS | DYNAMIC
_MAGIC = re.compile(r"^\s*([%!].*)$", re.MULTILINE)
# Magics that only time, configure plots or print: an honest notebook's.
HARMLESS_MAGICS = {"%matplotlib", "%time", "%%time", "%timeit", "%%timeit", "%config",
                   "%precision", "%who", "%whos", "%pwd", "%%capture"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One thing found in one cell: its kind (``tampering`` or ``suspicious``) and what."""

    cell: int  # 1-based, among all the notebook's cells
    kind: str
    what: str

    def __str__(self) -> str:
        return f"cell {self.cell} {self.what}"


def reported_names(results_source: str) -> set[str]:
    """The variables the locked Result cell reads (not builtins, not ``labkit``)."""
    tree = _parse(results_source)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()
    own = written_names(results_source)  # the cell's own loop variables
    return {name for name in loaded - own if not hasattr(builtins, name)} - {"labkit"}


def written_names(source: str) -> set[str]:
    """The variables a cell assigns (functions and classes it defines included)."""
    tree = _parse(_MAGIC.sub("pass", source))
    nodes = ast.walk(tree) if tree else []
    return {t.id for node in nodes for t in _written(node) if isinstance(t, ast.Name)}


def kit_names(source: str) -> set[str]:
    """The ``labkit`` names a cell uses (``labkit.VAE``, ``from labkit import VAE``)."""
    tree = _parse(_MAGIC.sub("pass", source))
    names = set()
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Attribute) and _root(node) == "labkit":
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
            names |= {alias.name for alias in node.names}
    return names


def scan(cells: list[tuple[int, str]], reported: set[str], allowed: set[str]) -> list[Finding]:
    """Findings in the student's code cells (``(position, source)``), at most one per kind of
    thing per cell. ``allowed``: the ``labkit`` names the lab's own solution cells use."""
    trees = [(position, _parse(_MAGIC.sub("pass", source))) for position, source in cells]
    nodes = [node for _, tree in trees if tree for node in ast.walk(tree)]
    # Another name for a module or a reported variable is guarded as the first one is: its
    # attributes and items may not be written (rebinding the other name itself is harmless).
    modules = _aliases(nodes, MODULE_NAMES | _imported(nodes), calls=False)
    guarded = _aliases(nodes, set(reported), calls=True)
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    findings = []
    for (position, source), (_, tree) in zip(cells, trees, strict=True):
        found: dict[str, str] = {}
        for magic in _MAGIC.findall(source):
            command = magic.split()[0] if magic.split() else magic
            if command not in HARMLESS_MAGICS:
                found.setdefault(f"runs {ascii(command)[1:-1]}", "tampering")
        for node in ast.walk(tree) if tree else []:
            for what, kind in _node_findings(node, reported, guarded, allowed, modules):
                found.setdefault(what, kind)
            if isinstance(node, ast.Name) and node.id == "getattr" and id(node) not in called:
                found.setdefault("passes getattr around (code found dynamically)", "tampering")
        findings += [Finding(position, kind, what) for what, kind in found.items()]
    return findings


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call | ast.Starred):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _imported(nodes: list[ast.AST]) -> set[str]:
    return {
        (alias.asname or alias.name).split(".")[0]
        for node in nodes
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


def _aliases(nodes: list[ast.AST], names: set[str], calls: bool) -> set[str]:
    """``names`` and every name given a value that holds one of them: assigned (``h = history``,
    ``m = [np][0]``), looped over, matched, a default, a class attribute (the class), or a
    parameter of a function of the notebook's called with it. With ``calls``, also a call's
    result (``a = np.asarray(errors)``)."""
    names = set(names)
    functions = {n.name: n for n in nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    for _ in range(4):  # chains of aliases, a few deep
        for node in nodes:
            for value, targets in _bindings(node, functions):
                plain = not isinstance(value, ast.Call) or isinstance(value.func, ast.Lambda)
                held = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
                if held & names and (plain or calls):
                    names |= targets
    return names


def _bindings(node: ast.AST, functions: dict) -> list[tuple[ast.AST, set[str]]]:
    """``(value, names it is bound to)`` for each way ``node`` binds a value to a name."""

    def named(targets) -> set[str]:
        return {t.id for t in targets if isinstance(t, ast.Name)}

    found = []
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        found.append((node.value, named(_written(node))))
    if isinstance(node, ast.For | ast.comprehension):
        found.append((node.iter, named(_written(node)) | _names_in(node.target)))
    if isinstance(node, ast.Match):
        captured = {n.name for n in ast.walk(node) if isinstance(n, ast.MatchAs) and n.name}
        found.append((node.subject, captured))
    if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
        arguments = node.args.posonlyargs + node.args.args
        for argument, default in zip(arguments[::-1], node.args.defaults[::-1], strict=False):
            found.append((default, {argument.arg}))
    if isinstance(node, ast.ClassDef):
        for statement in node.body:
            if isinstance(statement, ast.Assign):
                found.append((statement.value, {node.name}))
    function = functions.get(getattr(getattr(node, "func", None), "id", None))
    if isinstance(node, ast.Call) and function is not None:
        parameters = [a.arg for a in function.args.posonlyargs + function.args.args]
        for parameter, argument in zip(parameters, node.args, strict=False):
            found.append((argument, {parameter}))
    return found


def _names_in(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _node_findings(
    node: ast.AST, reported: set[str], guarded: set[str], allowed: set[str], modules: set[str]
):
    yield from _name_findings(node, allowed)
    yield from _import_findings(node, allowed)
    yield from _call_findings(node, guarded)
    for target in _written(node):
        root = _root(target)
        if isinstance(target, ast.Attribute | ast.Subscript) and root and root != "self":
            if root in guarded:
                yield f"changes {root}, which the lab's results come from", "tampering"
            elif isinstance(target, ast.Attribute) and root in modules:
                yield f"replaces {ast.unparse(target)}", "tampering"
        elif isinstance(target, ast.Name) and target.id in reported:
            yield f"assigns {target.id}, which the lab's results come from", "tampering"
        elif isinstance(target, ast.Name) and target.id in KIT_NAMES and not _imports(node):
            yield f"rebinds {target.id}", "tampering"
    if isinstance(node, ast.Global | ast.Nonlocal):
        for written in set(node.names) & reported:
            yield f"assigns {written}, which the lab's results come from", "tampering"


def _name_findings(node: ast.AST, allowed: set[str]):
    """A forbidden name used, or reached as an attribute or a constant string."""
    if isinstance(node, ast.Name):
        name = node.id if node.id in _BARE_NAMES else None
    elif isinstance(node, ast.Attribute):
        name = node.attr
    else:
        name = None
    if name is not None:
        yield from _forbidden(name)
        if _internal(name):
            yield f"reaches into Python's internals ({name})", "tampering"
        is_kit = isinstance(node, ast.Attribute) and _root(node) == "labkit"
        if is_kit and name in KIT_REFERENCES and name not in allowed:
            yield f"uses the kit's reference labkit.{name}", "suspicious"
    if isinstance(node, ast.Attribute) and node.attr in ATTRIBUTE_FINDERS | HIDDEN_MODULES:
        what = f"reaches a module or a lookup by name through an attribute ({node.attr})"
        yield what, "tampering"
    private = isinstance(node, ast.Attribute) and node.attr.startswith("_")
    if private and not _internal(node.attr) and _root(node) in MODULE_NAMES:
        yield f"reaches into a library's private parts ({node.attr})", "tampering"
    text = node.value if isinstance(node, ast.Constant) else None
    if isinstance(text, str) and ("/proc/" in text or text.endswith("environ")):
        yield "reads the machine or its environment (a /proc or environ path)", "suspicious"
    if isinstance(text, str) and _NAME_PATH.fullmatch(text.strip()):  # "0.__self__.exec"
        for part in re.split(r"[.\[\]]+", text.strip()):
            yield from _forbidden(part)
            if _internal(part):
                yield f"reaches into Python's internals ({part}, in a string)", "tampering"


def _internal(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and name not in PLAIN_DUNDERS


def _forbidden(name: str):
    if name in KIT_REPORTING:
        yield f"uses the kit's reporting ({name})", "tampering"
    if name in HOOKS:
        yield f"hooks into IPython or the interpreter ({name})", "tampering"
    if name in DYNAMIC:
        yield f"runs or finds code dynamically ({name})", "tampering"
    if name in ENVIRONMENT:
        yield f"reads the machine or its environment ({name})", "suspicious"


def _import_findings(node: ast.AST, allowed: set[str]):
    """Modules outside IMPORTABLE, forbidden names imported, the kit's checks and references."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if not _importable(alias.name):
                yield f"imports {alias.name}, which the labs do not use", "tampering"
    if not isinstance(node, ast.ImportFrom):
        return
    module = node.module or ""
    if not _importable(module) or node.level:
        yield f"imports from {module or '.'}, which the labs do not use", "tampering"
    for alias in node.names:
        yield from _forbidden(alias.name)
        if module.split(".")[0] == "labkit" and alias.name in KIT_REFERENCES - allowed:
            yield f"imports the kit's reference {alias.name} from {module}", "suspicious"


def _importable(module: str) -> bool:
    if module.split(".")[0] == "labkit":
        return module == "labkit"  # labkit.checks, labkit.models: the kit's insides
    return module.split(".")[0] in IMPORTABLE or module in IMPORTABLE


def _call_findings(node: ast.AST, guarded: set[str]):
    """``getattr(x, "exec")``, a guarded variable changed by a method, unsafe loading."""
    if not isinstance(node, ast.Call):
        return
    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
    if name in ("getattr", "setattr", "delattr", "hasattr"):
        attribute = node.args[1] if len(node.args) > 1 else None
        constant = isinstance(attribute, ast.Constant) and isinstance(attribute.value, str)
        if not constant or any(isinstance(a, ast.Starred) for a in node.args) or node.keywords:
            yield "runs or finds code dynamically (getattr with a computed name)", "tampering"
        else:
            yield from _forbidden(attribute.value)
            if _internal(attribute.value):
                yield f"reaches into Python's internals ({attribute.value})", "tampering"
    mutated = isinstance(node.func, ast.Attribute) and node.func.attr in MUTATING
    if mutated and _root(node.func.value) in guarded:
        yield f"changes {_root(node.func.value)}, which the lab's results come from", "tampering"
    # NumPy's writers into an argument: np.copyto(errors, 0), np.add(a, b, out=errors).
    written = [a for a in node.args[:1] if name in IN_PLACE] + [
        k.value for k in node.keywords if k.arg == "out"
    ]
    for target in written:
        if _root(target) in guarded:
            yield f"changes {_root(target)}, which the lab's results come from", "tampering"
    for keyword in node.keywords:
        value = getattr(keyword.value, "value", None)
        if (keyword.arg, value) in UNSAFE_ARGUMENTS:
            yield f"loads data that can run code ({keyword.arg}={value})", "tampering"


def _imports(node: ast.AST) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


def _written(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For | ast.comprehension):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = list(node.targets)
    elif isinstance(node, ast.NamedExpr):
        targets = [node.target]
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        targets = [node.optional_vars]
    elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
        targets = [ast.Name(node.name)]
    elif isinstance(node, ast.Import | ast.ImportFrom):
        targets = [ast.Name((a.asname or a.name).split(".")[0]) for a in node.names]
    else:
        return []
    flat = []
    for target in targets:
        flat += list(target.elts) if isinstance(target, ast.Tuple | ast.List) else [target]
    return flat


# Bare names that mean the same thing in any notebook; other matches need an attribute.
_BARE_NAMES = {"get_ipython", "exec", "eval", "compile", "__import__", "globals", "locals",
               "vars", "setattr", "delattr", "breakpoint", "__builtins__",
               "report_check", "report_results", "check_exercise", "answer_for_grader",
               "models_for_grader", "EXERCISES", "Thread", "Popen"}  # fmt: skip
