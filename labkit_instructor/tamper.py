"""Reading the student's own cells for code that reaches into the grading.

The grader never runs this code to find out: it reads the source (``ast``) of every code cell
that is not one of the lab's locked cells (solution cells, cells the student added, locked
cells they changed). Each finding names its cell and is one of two kinds:

* ``tampering``: calling, importing or replacing the kit's reporting and checks; replacing a
  module's function (``np.allclose = ...``, under any alias) or rebinding ``labkit``; hooking
  IPython or the interpreter (display, events, tracing, frames, ``sys.meta_path``, ``sys.path``);
  threads and subprocesses; dynamic code (``exec``, ``__dict__``, ``getattr`` with a computed
  name); importing a module that is not installed; magics other than timing and plotting ones;
  writing a variable that the Result cell reports or a model that the grader measures;
* ``suspicious``: reading the machine's identity or environment (how a submission could tell
  that it is being graded), and using the kit's own reference implementations.

A finding is a note on the student's row; ``tampering`` also costs the result and exercise
points (see ``labkit_instructor.grading``). It is a reading, not a proof: the instructor decides.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
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
         "display_pub", "display_formatter", "displayhook", "events",
         "register_magic_function", "settrace", "setprofile", "monitoring", "InteractiveShell",
         "set_custom_exc", "showtraceback", "walk_stack", "f_locals", "f_globals", "gi_frame",
         "tb_frame", "f_code", "meta_path", "path_hooks", "Thread", "threading", "_thread",
         "multiprocessing", "subprocess", "Popen", "system", "fork", "signal"}  # fmt: skip
DYNAMIC = {"exec", "eval", "compile", "__import__", "importlib", "modules", "globals",
           "__builtins__", "builtins", "ctypes", "_getframe", "get_objects", "setattr",
           "delattr", "vars", "__dict__", "__class__", "__globals__", "__code__",
           "__subclasses__", "__getattribute__", "__setattr__", "__closure__"}  # fmt: skip
ENVIRONMENT = {"gethostname", "node", "uname", "environ", "getenv", "getuser", "getlogin",
               "socket", "getpid", "getppid"}  # fmt: skip
MUTATING = {"update", "append", "extend", "insert", "pop", "clear", "setdefault", "popitem",
            "__setitem__", "__setattr__", "__dict__", "remove", "sort", "reverse"}  # fmt: skip
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
    findings = []
    for position, source in cells:
        found: dict[str, str] = {}
        for magic in _MAGIC.findall(source):
            command = magic.split()[0] if magic.split() else magic
            if command not in HARMLESS_MAGICS:
                found.setdefault(f"runs {ascii(command)[1:-1]}", "tampering")
        tree = _parse(_MAGIC.sub("pass", source))
        if tree is None:
            continue
        aliases = _MODULE_ALIASES | {
            (alias.asname or alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        for node in ast.walk(tree):
            for what, kind in _node_findings(node, reported, allowed, aliases):
                found.setdefault(what, kind)
        findings += [Finding(position, kind, what) for what, kind in found.items()]
    return findings


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _node_findings(node: ast.AST, reported: set[str], allowed: set[str], aliases: set[str]):
    yield from _dynamic_findings(node)
    name = _name(node)
    if isinstance(node, ast.Name) and name not in _BARE_NAMES:
        name = None  # a variable of the student's that happens to share a name
    if isinstance(node, ast.Name | ast.Attribute) and name:
        if name in KIT_REPORTING and (name not in _KIT_MODULES or _root(node) == "labkit"):
            yield f"uses the kit's reporting ({name})", "tampering"
        if name in HOOKS:
            yield f"hooks into IPython or the interpreter ({name})", "tampering"
        if name in DYNAMIC:
            yield f"runs or finds code dynamically ({name})", "tampering"
        if name in ENVIRONMENT:
            yield f"reads the machine or its environment ({name})", "suspicious"
        is_kit = isinstance(node, ast.Attribute) and _root(node) == "labkit"
        if is_kit and name in KIT_REFERENCES and name not in allowed:
            yield f"uses the kit's reference labkit.{name}", "suspicious"
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == "labkit" and len(parts) > 1:
                kind = "tampering" if parts[1] in _KIT_MODULES else "suspicious"
                yield f"imports {alias.name}", kind
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "labkit":
        names = {alias.name for alias in node.names} - allowed
        if names & (KIT_REFERENCES | KIT_REPORTING) or node.module != "labkit":
            imported = ", ".join(sorted(names)) or node.module
            kit = set((node.module or "").split(".")) | names
            kind = "tampering" if kit & (_KIT_MODULES | KIT_REPORTING) else "suspicious"
            yield f"imports {imported} from {node.module}", kind
    targets = _written(node)
    for target in targets:
        root = _root(target)
        if isinstance(target, ast.Attribute | ast.Subscript) and root and root != "self":
            if root in reported:
                yield f"changes {root}, which the lab's results come from", "tampering"
            elif isinstance(target, ast.Attribute) and root in aliases:
                yield f"replaces {ast.unparse(target)}", "tampering"
        elif isinstance(target, ast.Name) and target.id in reported:
            yield f"assigns {target.id}, which the lab's results come from", "tampering"
        elif isinstance(target, ast.Name) and target.id in _KIT_NAMES and not _imports(node):
            yield f"rebinds {target.id}", "tampering"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        root = _root(node.func.value)
        if node.func.attr in MUTATING and root in reported:
            yield f"changes {root}, which the lab's results come from", "tampering"
    if isinstance(node, ast.Global | ast.Nonlocal):
        for written in set(node.names) & reported:
            yield f"assigns {written}, which the lab's results come from", "tampering"


def _dynamic_findings(node: ast.AST):
    """``getattr(x, <a computed name>)``, ``sys.path``, modules that are not installed, and
    strings that name the machine's secrets."""
    if isinstance(node, ast.Attribute) and node.attr == "path" and _root(node) == "sys":
        yield "changes where Python imports from (sys.path)", "tampering"
    for alias in node.names if isinstance(node, ast.Import) else []:
        top = alias.name.split(".")[0]
        if importlib.util.find_spec(top) is None:
            yield f"imports {top}, which is not an installed module (a file it wrote?)", "tampering"
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "hasattr"):
        named = len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
        if not named:
            yield "runs or finds code dynamically (getattr with a computed name)", "tampering"
        elif _root(node.args[0]) == "labkit" and node.args[1].value in KIT_REFERENCES:
            yield f"uses the kit's reference labkit.{node.args[1].value}", "suspicious"
    text = node.value if isinstance(node, ast.Constant) else None
    if isinstance(text, str) and ("/proc/" in text or text.endswith("environ")):
        yield "reads the machine or its environment (a /proc or environ path)", "suspicious"


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


_KIT_MODULES = {"checks", "reporting", "transport"}
# Names a student's cell must not point elsewhere: the kit, and what its checks compute with.
_KIT_NAMES = {"labkit", "np", "numpy", "keras", "ops", "tf", "math", "report_check",
              "report_results", "check_exercise"}  # fmt: skip
# Bare names that mean the same thing in any notebook; other matches need an attribute.
_BARE_NAMES = {"get_ipython", "exec", "eval", "compile", "__import__", "globals", "vars",
               "setattr", "delattr", "__builtins__", "importlib", "builtins", "ctypes",
               "socket", "report_check", "report_results", "check_exercise",
               "answer_for_grader", "models_for_grader", "EXERCISES", "Thread", "threading",
               "_thread", "subprocess", "Popen", "multiprocessing"}  # fmt: skip
_MODULE_ALIASES = {"np", "numpy", "math", "labkit", "keras", "tf", "tensorflow", "IPython",
                   "builtins", "sys", "os", "random", "scipy", "plt", "matplotlib", "ops",
                   "operator", "functools"}  # fmt: skip
