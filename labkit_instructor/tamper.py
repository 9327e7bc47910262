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
import functools
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
            "load_weights", "fit", "train_on_batch"}  # fmt: skip
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
# What each of those names may be imported from (``import math as labkit`` hides the kit).
KIT_MODULES = {"np": {"numpy"}, "numpy": {"numpy"}, "math": {"math"}, "labkit": {"labkit"},
               "tf": {"tensorflow"}, "keras": {"keras", "tensorflow.keras"},
               "ops": {"keras.ops", "tensorflow.keras.ops"}}  # fmt: skip
# Parts of a library's insides that are not its public API, though not spelled with a ``_``:
# ``keras.src.utils.python_utils.func_load`` unmarshals code, ``tensorflow.python`` has it all.
INSIDES = {"src", "python"}
# Loaders that run code from a file with one argument more: its position when passed by
# position (``np.load(path, None, True)`` is ``allow_pickle=True``).
UNSAFE_POSITIONS = {"load": 2, "read_array": 1, "load_model": 3, "deserialize_keras_object": 2}
_FORBIDDEN = KIT_REPORTING | HOOKS | DYNAMIC
# Magics that only time, configure plots or print: an honest notebook's. The code the timing
# ones run is read as the cell's own; %config and %matplotlib are allowed only in the shapes
# of _plain_magic (IPython's %config runs its argument with exec, %matplotlib imports it).
HARMLESS_MAGICS = {"%matplotlib", "%time", "%%time", "%timeit", "%%timeit", "%config",
                   "%precision", "%who", "%whos", "%pwd", "%%capture", "%pinfo",
                   "%pinfo2"}  # fmt: skip
MATPLOTLIB_BACKENDS = {"", "inline", "widget", "ipympl", "notebook", "agg", "--list", "-l"}
_OPTIONS = re.compile(r"^(\s*-[a-z]+(\s*\d+)?(?=\s))*")  # %timeit -n 10 -r 3 ...


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
    nodes = _read(source)[0]
    return {t.id for node in nodes for t in _written(node) if isinstance(t, ast.Name)}


def kit_names(source: str) -> set[str]:
    """The ``labkit`` names a cell uses (``labkit.VAE``, ``from labkit import VAE``)."""
    names = set()
    for node in _read(source)[0]:
        if isinstance(node, ast.Attribute) and _root(node) == "labkit":
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
            names |= {alias.name for alias in node.names}
    return names


def scan(cells: list[tuple[int, str]], reported: set[str], allowed: set[str]) -> list[Finding]:
    """Findings in the student's code cells (``(position, source)``), at most one per kind of
    thing per cell. ``allowed``: the ``labkit`` names the lab's own solution cells use."""
    read = [(position, *_read(source)) for position, source in cells]
    nodes = [node for _, cell_nodes, _ in read for node in cell_nodes]
    # Another name for a module or a reported variable is guarded as the first one is: its
    # attributes and items may not be written (rebinding the other name itself is harmless).
    modules = _aliases(nodes, MODULE_NAMES | _imported(nodes), calls=False)
    guarded = _aliases(nodes, set(reported), calls=True)
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    findings = []
    for position, cell_nodes, magics in read:
        found = dict(magics)
        for node in cell_nodes:
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


def _read(source: str) -> tuple[list[ast.AST], dict[str, str]]:
    """The nodes of a cell as IPython runs it, and what its magics do.

    IPython's own transformer turns magics, shell escapes, ``x = !cmd`` and ``x?`` into calls
    (``get_ipython().run_line_magic("time", "...")``), so no spelling of IPython's syntax can
    make the cell unreadable here and leave its other lines unread. The code that a timing
    magic runs is read as the cell's own; a magic's own call is not a hook."""
    tree = _parse(_transform(source))
    if tree is None:  # the kernel cannot run it either
        return [], {}
    magics = [(node, _magic(node)) for node in ast.walk(tree)]
    magics = [(node, magic) for node, magic in magics if magic is not None]
    inside = {id(n) for node, _ in magics for n in ast.walk(node)}
    nodes = [node for node in ast.walk(tree) if id(node) not in inside]
    found: dict[str, str] = {}
    for _, (command, argument, body) in magics:
        if not _plain_magic(command, argument):
            found.setdefault(f"runs {ascii(command)[1:-1]}", "tampering")
        for code in _magic_code(command, argument, body):
            more_nodes, more = _read(code)
            if code.strip() and not more_nodes:
                found.setdefault(f"runs {command} with code that cannot be read", "tampering")
            nodes += more_nodes
            found = {**more, **found}
    return nodes, found


def _transform(source: str) -> str:
    try:
        return _transformer().transform_cell(source)
    except Exception:  # IPython refuses the cell: the kernel runs none of it
        return ""


@functools.cache
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _magic(node: ast.AST) -> tuple[str, str, str] | None:
    """``(command, argument, cell body)`` of IPython's call for a magic or a shell escape."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    shell = node.func.value
    ipython = isinstance(shell, ast.Call) and getattr(shell.func, "id", None) == "get_ipython"
    texts = [a.value for a in node.args if isinstance(a, ast.Constant)]
    if not ipython or shell.args or node.keywords or len(texts) != len(node.args) or not texts:
        return None
    if not all(isinstance(text, str) for text in texts):
        return None
    method, (first, *rest) = node.func.attr, texts
    if method in ("system", "getoutput") and not rest:
        return "!" + (first.split() or [""])[0], first, ""
    if method == "run_line_magic" and len(rest) == 1:
        return "%" + first, rest[0], ""
    if method == "run_cell_magic" and len(rest) == 2:
        return "%%" + first, rest[0], rest[1]
    return None


def _plain_magic(command: str, argument: str) -> bool:
    if command == "%config":  # IPython runs "cfg." + argument with exec
        tree = _parse(argument)
        statement = tree.body[0] if tree and len(tree.body) == 1 else None
        if not argument.strip() or argument.strip() == "InlineBackend":
            return True
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            return False
        target = statement.targets[0]
        inline = isinstance(target, ast.Attribute) and _root(target.value) == "InlineBackend"
        return inline and isinstance(target.value, ast.Name) and _literal(statement.value)
    if command == "%matplotlib":  # "module://name" imports any module
        return argument.strip() in MATPLOTLIB_BACKENDS
    return command in HARMLESS_MAGICS


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _magic_code(command: str, argument: str, body: str) -> list[str]:
    """The code a harmless magic runs; ``%%capture name`` as ``name = None`` (it assigns it)."""
    if command in ("%time", "%timeit", "%%time", "%%timeit"):
        return [_OPTIONS.sub("", argument, count=1), body]
    if command in ("%pinfo", "%pinfo2"):  # help on an object: read it as an expression
        return [argument]
    if command == "%%capture":
        names = [word for word in argument.split() if not word.startswith("-")]
        return [body] + [f"{name} = None" for name in names]
    return []


def _root(node: ast.AST) -> str | None:
    node = _base(node)
    return node.id if isinstance(node, ast.Name) else None


def _base(node: ast.AST) -> ast.AST:
    """The name (or other node) a chain such as ``(m := np).linalg.norm(x)[0]`` starts from."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call | ast.Starred | ast.NamedExpr):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _owners(node: ast.AST) -> set[str]:
    """The names whose objects a write into ``node`` may change: the chain's root, ``self.x``
    for what a method keeps (``self.n.allclose = max``, when ``self.n = np``), what a call in
    the chain is given (``type(history).history = ...``) and what a literal holds
    (``[np][0].allclose = max``). Not an index (``table[name]``)."""
    if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "self":
        return {f"self.{node.attr}"}
    if isinstance(node, ast.Attribute | ast.Subscript | ast.Starred | ast.NamedExpr):
        return _owners(node.value)
    if isinstance(node, ast.Call):
        given = node.args + [keyword.value for keyword in node.keywords]
        return _owners(node.func).union(*map(_owners, given))
    if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict):
        return set().union(*map(_owners, getattr(node, "elts", None) or node.values))
    return {node.id} if isinstance(node, ast.Name) else set()


def _changed(node: ast.AST, names: set[str]) -> str | None:
    """Which of ``names`` a write into ``node``, or a method called on it, changes."""
    return min(_owners(node) & names, default=None)


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
    for node in (n for n in nodes if isinstance(n, ast.ClassDef)):  # C(x): C.__init__(self, x)
        inits = [n for n in node.body if getattr(n, "name", "") == "__init__"]
        if inits:
            functions[node.name] = inits[0]
    raised = [n.exc for n in nodes if isinstance(n, ast.Raise) and n.exc is not None]
    for _ in range(4):  # chains of aliases, a few deep
        for node in nodes:
            for value, targets in _bindings(node, functions, raised):
                if _held(value, calls) & names:
                    names |= targets
    return names


def _held(value: ast.AST, calls: bool) -> set[str]:
    """The names whose objects ``value`` may hold. Without ``calls``, not a method's or a
    library's own object (``np`` in ``np.zeros(3)``, ``ops`` in ``Dense(4, activation=ops.relu)``),
    but what is passed to a call that may return it (``next(iter([np.linalg]))``, ``g(np)``)."""
    skipped = set()
    for call in ast.walk(value) if not calls else []:
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            skipped.add(id(_base(call.func)))
            chains = [k.value for k in call.keywords if isinstance(k.value, ast.Attribute)]
            skipped |= {id(_base(chain)) for chain in chains}
    return {n.id for n in ast.walk(value) if isinstance(n, ast.Name) and id(n) not in skipped}


def _bindings(node: ast.AST, functions: dict, raised: list) -> list[tuple[ast.AST, set[str]]]:
    """``(value, names it is bound to)`` for each way ``node`` binds a value to a name: also
    ``self.x`` in a method, a function's name to what it returns, a class's to its attributes
    and what its methods return or keep, ``except ... as e`` to whatever the notebook raises."""

    def named(targets) -> set[str]:
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        kept = [t for t in targets if isinstance(t, ast.Attribute) and _root(t) == "self"]
        return names | {f"self.{t.attr}" for t in kept if isinstance(t.value, ast.Name)}

    found = []
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        found.append((node.value, named(_written(node))))
        # kept[k] = np, C.m = np: the container holds it (not a number read from a result)
        into = [t.value for t in _written(node) if isinstance(t, ast.Attribute | ast.Subscript)]
        if isinstance(node.value, ast.Name | ast.Attribute):
            found += [(node.value, _owners(container)) for container in into]
    if isinstance(node, ast.For | ast.comprehension):
        found.append((node.iter, named(_written(node)) | _names_in(node.target)))
    if isinstance(node, ast.Match):
        patterns = ast.MatchAs | ast.MatchStar
        captured = {n.name for n in ast.walk(node) if isinstance(n, patterns) and n.name}
        found.append((node.subject, captured))
    if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
        arguments = node.args.posonlyargs + node.args.args
        for argument, default in zip(arguments[::-1], node.args.defaults[::-1], strict=False):
            found.append((default, {argument.arg}))
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        found += [(decorator, {node.name}) for decorator in node.decorator_list]
        for inner in ast.walk(node):
            given = isinstance(inner, ast.Return | ast.Yield | ast.YieldFrom) and inner.value
            kept = isinstance(node, ast.ClassDef) and isinstance(inner, ast.Assign)
            if given or kept:
                found.append((inner.value, {node.name}))
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        found.append((node.context_expr, _names_in(node.optional_vars)))
    if isinstance(node, ast.ExceptHandler) and node.name:
        found += [(exception, {node.name}) for exception in raised]
    if isinstance(node, ast.Call):
        found += _arguments(node, functions)
    return found


def _arguments(call: ast.Call, functions: dict) -> list[tuple[ast.AST, set[str]]]:
    """A notebook's function or method called with a value binds its parameters to it; a list
    or a dict given a value by a method (``kept.append(np)``) holds it."""
    name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
    function, found = functions.get(name), []
    if isinstance(call.func, ast.Attribute) and call.func.attr in MUTATING:
        stored = [a for a in call.args if isinstance(a, ast.Name | ast.Attribute)]
        found += [(argument, _owners(call.func.value)) for argument in stored]
    if function is None:
        return found
    arguments = function.args
    parameters = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    # obj.f(x) and C(x) (C.__init__) pass self first; f(x) binds f's first parameter to x.
    bound = isinstance(call.func, ast.Attribute) or function.name == "__init__"
    shift = 1 if bound and parameters[:1] == ["self"] else 0
    for parameter, argument in zip(parameters[shift:], call.args, strict=False):
        found.append((argument, {parameter}))
    for keyword in call.keywords:
        found.append((keyword.value, {keyword.arg} if keyword.arg else set(parameters)))
    spread = [a for a in call.args if isinstance(a, ast.Starred)]
    found += [(argument, set(parameters)) for argument in spread]
    return found


def _names_in(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _node_findings(
    node: ast.AST, reported: set[str], guarded: set[str], allowed: set[str], modules: set[str]
):
    yield from _name_findings(node, allowed, modules)
    yield from _import_findings(node, allowed)
    yield from _call_findings(node, guarded)
    for target in _written(node):
        # The object written into: a write into self is the class's own, unless self is
        # another name for a module or a result (``def f(self): ...`` called with ``np``).
        into = target.value if isinstance(target, ast.Attribute | ast.Subscript) else None
        if into is not None and _changed(into, guarded):
            yield (
                f"changes {_changed(into, guarded)}, which the lab's results come from",
                "tampering",
            )
        elif isinstance(target, ast.Attribute) and _changed(into, modules):
            yield f"replaces {ast.unparse(target)}", "tampering"
        elif isinstance(target, ast.Name) and target.id in reported:
            yield f"assigns {target.id}, which the lab's results come from", "tampering"
        elif isinstance(target, ast.Name) and target.id in KIT_NAMES and not _imports(node):
            yield f"rebinds {target.id}", "tampering"
        elif isinstance(target, ast.Name) and target.id in _BARE_NAMES and not _imports(node):
            yield f"rebinds {target.id}", "tampering"  # def get_ipython(): IPython calls it
    if isinstance(node, ast.Global | ast.Nonlocal):
        for written in set(node.names) & reported:
            yield f"assigns {written}, which the lab's results come from", "tampering"


def _name_findings(node: ast.AST, allowed: set[str], modules: set[str]):
    """A forbidden name used, or reached as an attribute or a constant string."""
    if isinstance(node, ast.Name):
        name = node.id if node.id in _BARE_NAMES else None
    elif isinstance(node, ast.Attribute):
        name = node.attr if not _library_method(node, modules) else None
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
    private = isinstance(node, ast.Attribute) and _private(node.attr)
    if private and not _internal(node.attr) and _root(node) in modules | MODULE_NAMES:
        yield f"reaches into a library's private parts ({node.attr})", "tampering"
    text = node.value if isinstance(node, ast.Constant) else None
    if isinstance(text, str) and ("/proc/" in text or text.endswith("environ")):
        yield "reads the machine or its environment (a /proc or environ path)", "suspicious"
    if isinstance(text, str) and _NAME_PATH.fullmatch(text.strip()):  # "0.__self__.exec"
        for part in re.split(r"[.\[\]]+", text.strip()):
            yield from _forbidden(part)
            if _internal(part):
                yield f"reaches into Python's internals ({part}, in a string)", "tampering"


def _library_method(node: ast.Attribute, modules: set[str]) -> bool:
    """``model.compile`` is Keras's (Python's needs 3 arguments: see _call_findings), and
    ``np.stack`` or ``ops.stack`` is NumPy's (the ``inspect`` module it means is never reached:
    ``.inspect`` is a HIDDEN_MODULES attribute)."""
    stack = node.attr == "stack" and _root(node) in MODULE_NAMES & modules  # not inspect's
    return node.attr == "compile" or stack


def _private(name: str) -> bool:
    return name.startswith("_") or name in INSIDES


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
            yield from _import_as(alias.name, alias)
    if not isinstance(node, ast.ImportFrom):
        return
    module = node.module or ""
    if not _importable(module) or node.level:
        yield f"imports from {module or '.'}, which the labs do not use", "tampering"
    for alias in node.names:
        yield from _forbidden(alias.name)
        if _private(alias.name):
            yield f"imports {alias.name} from {module}, a library's private parts", "tampering"
        yield from _import_as(f"{module}.{alias.name}", alias)
        if module.split(".")[0] == "labkit" and alias.name in KIT_REFERENCES - allowed:
            yield f"imports the kit's reference {alias.name} from {module}", "suspicious"


def _import_as(module: str, alias: ast.alias):
    """``import math as labkit``: another module under a name the kit's cells use."""
    bound = alias.asname or alias.name.split(".")[0]
    if bound in KIT_MODULES and module not in KIT_MODULES[bound] and bound != alias.name:
        yield f"rebinds {bound} (to {module})", "tampering"


def _importable(module: str) -> bool:
    if module.split(".")[0] == "labkit":
        return module == "labkit"  # labkit.checks, labkit.models: the kit's insides
    if any(_private(part) for part in module.split(".")):  # keras.src, numpy._core
        return False
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
    if mutated and _changed(node.func.value, guarded):
        yield (
            f"changes {_changed(node.func.value, guarded)}, which the lab's results come from",
            "tampering",
        )
    spread = any(isinstance(a, ast.Starred) for a in node.args) or any(
        k.arg is None for k in node.keywords
    )
    # Python's compile(source, filename, mode), not Keras's model.compile(optimizer, loss).
    if name == "compile" and (len(node.args) >= 3 or spread):
        yield "runs or finds code dynamically (compile)", "tampering"
    position = UNSAFE_POSITIONS.get(name)
    if position is not None and (len(node.args) > position or spread):
        yield f"loads data that can run code ({name} with arguments by position)", "tampering"
    # NumPy's writers into an argument: np.copyto(errors, 0), np.add(a, b, out=errors).
    written = [a for a in node.args[:1] if name in IN_PLACE] + [
        k.value for k in node.keywords if k.arg == "out"
    ]
    for target in written:
        if _changed(target, guarded):
            yield (
                f"changes {_changed(target, guarded)}, which the lab's results come from",
                "tampering",
            )
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
    while targets:  # unpacked, however deep: a, (b, *history) = ...
        target = targets.pop()
        if isinstance(target, ast.Tuple | ast.List):
            targets += target.elts
        else:
            flat.append(target.value if isinstance(target, ast.Starred) else target)
    return flat


# Bare names that mean the same thing in any notebook; other matches need an attribute.
_BARE_NAMES = {"get_ipython", "exec", "eval", "compile", "__import__", "globals", "locals",
               "vars", "setattr", "delattr", "breakpoint", "__builtins__",
               "report_check", "report_results", "check_exercise", "answer_for_grader",
               "models_for_grader", "EXERCISES", "Thread", "Popen"}  # fmt: skip
