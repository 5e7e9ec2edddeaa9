"""One wrong answer costs only its own points: checks over a solution notebook.

An *exercise* is an answer cell (``solution``, not graded) with the test cells that follow it up
to the next answer cell (notebook 10's engine has several milestone tests). Two checks:

* :func:`foreign_reads` (static, no execution): no test cell reads a value that depends on
  another exercise — directly (a name that exercise's answer or test cells bind) or through
  ordinary cells in between (a name computed from such a value). Names are followed through the
  cells in execution order, with Python's own scoping (:mod:`symtable`).
* :func:`breaking_hook` (dynamic, during one execution): right after the last test cell of an
  exercise has run, the exercise is *broken* as a learner's unfinished submission would leave it:
  the names its answer and test cells bound go back to what they were before the answer cell,
  and the **student version** of the answer cell (solution regions replaced by
  ``raise NotImplementedError()``, as ``mmcourse release`` makes it) runs in their place. Every
  later test cell must still pass. One execution breaks every exercise in turn — each after its
  own tests, so each test cell runs with every *earlier* exercise broken and its own intact.
"""
from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass, field

from . import cells as C

#: names every cell may read: builtins and what IPython provides
NEUTRAL = frozenset(dir(builtins)) | {"get_ipython", "display", "__file__", "In", "Out"}


# ----------------------------------------------------------------------------- names of a cell
def _python(source: str) -> str:
    """The cell's Python: IPython magics and shell escapes dropped."""
    return "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!")))


def _names(tree) -> tuple[set, set]:
    """(bound, read) top-level names of one statement or expression, with Python's scoping:
    reads inside a function, lambda, class or comprehension count when they are global there."""
    table = symtable.symtable(ast.unparse(tree), "<cell>", "exec")
    bound = {s.get_name() for s in table.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace()}
    read = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        read |= {s.get_name() for s in child.get_symbols() if s.is_referenced() and s.is_global()}
        stack.extend(child.get_children())
    return bound, read


def _flow(stmts, bound: set, reads: set) -> None:
    """Walk statements in execution order: a name read before the cell binds it is a read."""
    for stmt in stmts:
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            _, r = _names(ast.Expression(stmt.iter))
            reads |= r - bound
            bound |= _names(ast.Assign([stmt.target], ast.Constant(0), lineno=0))[0]
            _flow(stmt.body + stmt.orelse, bound, reads)
        elif isinstance(stmt, (ast.While, ast.If)):
            _, r = _names(ast.Expression(stmt.test))
            reads |= r - bound
            _flow(stmt.body + stmt.orelse, bound, reads)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                _, r = _names(ast.Expression(item.context_expr))
                reads |= r - bound
                if item.optional_vars is not None:
                    bound |= _names(ast.Assign([item.optional_vars], ast.Constant(0), lineno=0))[0]
            _flow(stmt.body, bound, reads)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            _flow(stmt.body, bound, reads)
            for handler in stmt.handlers:
                if handler.type is not None:
                    reads |= _names(ast.Expression(handler.type))[1] - bound
                if handler.name:
                    bound.add(handler.name)
                _flow(handler.body, bound, reads)
            _flow(stmt.orelse + stmt.finalbody, bound, reads)
        else:
            b, r = _names(ast.Module([stmt], type_ignores=[]))
            reads |= r - bound
            bound |= b


def statements(source: str) -> list[tuple[set, set]]:
    """``(bound, reads)`` of each top-level statement of a code cell, in order: the names it
    binds, and the names it reads before binding them itself. A cell that does not parse has
    none."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return []
    out = []
    for stmt in tree.body:
        bound: set = set()
        reads: set = set()
        _flow([stmt], bound, reads)
        out.append((bound, reads - NEUTRAL))
    return out


def cell_names(source: str) -> tuple[set, set]:
    """``(bound, reads)`` of a code cell: the top-level names it binds, and the names it reads
    before binding them itself (what it takes from earlier cells)."""
    bound: set = set()
    reads: set = set()
    for b, r in statements(source):
        reads |= r - bound
        bound |= b
    return bound, reads


# ----------------------------------------------------------------------------- exercises
@dataclass
class Exercise:
    """An answer cell (index ``answer``, grade_id ``name``) and its test cells (indices)."""

    name: str
    answer: int
    tests: list = field(default_factory=list)


def exercises(nb) -> list[Exercise]:
    """The notebook's exercises in order; a test cell belongs to the answer cell before it."""
    found: list[Exercise] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        kind = C.role(cell)
        if kind == "solution":
            found.append(Exercise(C.grade_id(cell) or f"cell-{i}", i))
        elif kind == "test" and found:
            found[-1].tests.append(i)
    return [e for e in found if e.tests]


def _carry(depends: dict, names, value: set) -> None:
    for name in names:
        if value:
            depends[name] = set(value)
        else:
            depends.pop(name, None)


def foreign_reads(nb) -> dict:
    """{test grade_id: {name: [other exercises it depends on]}} for every test cell that reads a
    value depending on another exercise (empty when every test cell depends on its own only)."""
    owner = {}
    for ex in exercises(nb):
        owner[ex.answer] = ex.name
        owner.update({t: ex.name for t in ex.tests})
    depends: dict = {}  # name -> exercises its current value depends on
    problems: dict = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        mine = owner.get(i)
        if mine is None:  # an ordinary cell: each statement's names carry what it read
            for bound, reads in statements(cell.source):
                _carry(depends, bound, set().union(set(), *(depends.get(n, set()) for n in reads)))
            continue
        bound, reads = cell_names(cell.source)
        if C.role(cell) == "test":
            bad = {n: sorted(depends[n] - {mine}) for n in sorted(reads) if depends.get(n, set()) - {mine}}
            if bad:
                problems[C.grade_id(cell)] = bad
            _carry(depends, bound, {mine}.union(*(depends.get(n, set()) for n in reads)))
        else:  # an answer is the learner's own: what it uses is their choice, its value theirs
            _carry(depends, bound, {mine})
    return problems


# ----------------------------------------------------------------------------- breaking
_STATE = "__mmcourse_isolation__"

#: kernel-side helpers, defined once before the first cell that needs them
_KERNEL_HELPERS = f"""
def _mmcourse_isolation():
    import types
    g = globals()
    state = g.setdefault({_STATE!r}, {{"before": {{}}, "intact": None}})

    def snapshot(key, names):
        state["before"][key] = {{n: g[n] for n in names if n in g}}

    def break_(key, names, student_source, keep=()):
        # the names go back to what they were before the answer cell, then the student's
        # version of the answer cell runs in their place (its solution regions raise); the names
        # in `keep`, which later cells rebound, keep their current values
        intact = state["intact"]
        for n in (*names, *keep):
            if n not in intact:
                intact[n] = g.get(n, intact)
        before = state["before"].get(key, {{}})
        for n in names:
            if n in before:
                g[n] = before[n]
            else:
                g.pop(n, None)
        ip = get_ipython()
        try:
            exec(compile(ip.transform_cell(student_source), "<broken answer>", "exec"), g)
        except BaseException:
            pass
        for n in keep:
            if intact[n] is intact:
                g.pop(n, None)
            else:
                g[n] = intact[n]

    def start():
        state["intact"] = {{}}

    def restore():
        intact, state["intact"] = state["intact"] or {{}}, None
        for n, v in intact.items():
            if v is intact:
                g.pop(n, None)
            else:
                g[n] = v

    return types.SimpleNamespace(snapshot=snapshot, break_=break_, start=start, restore=restore)
{_STATE}_api = _mmcourse_isolation()
del _mmcourse_isolation
"""


def breaking_hook(nb, student_nb):
    """``before_cell`` for :func:`mmcourse.grading.kernel.run_notebook` that runs every test cell
    of ``nb`` with every *other* exercise before it broken (see the module docstring), and every
    other cell with all answers intact.

    Right before a test cell of exercise F, each earlier exercise E is broken: the names E's
    answer and test cells bind go back to their values before E's answer cell, and the student
    version of E's answer cell (from ``student_nb``, matched by grade_id; its solution regions
    raise ``NotImplementedError``) runs in their place. Right after the test cell, the intact
    values come back. Values that ordinary cells computed from E's answer are not broken here:
    :func:`foreign_reads` checks those, statically.

    Returns ``(hook, broken_for)``: ``broken_for[i]`` lists the exercises broken while test cell
    ``i`` runs.
    """
    student = {C.grade_id(c): c.source for c in student_nb.cells if C.grade_id(c)}
    plan = exercises(nb)
    binds = {i: set(cell_names(c.source)[0]) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    names = {ex.name: sorted(set().union(*(binds[i] for i in (ex.answer, *ex.tests)))) for ex in plan}

    def breakable(ex, before):
        """E's names to reset, and those to keep: the ones another cell rebinds between E's answer
        and cell ``before`` hold that cell's value (say a later answer's own import of a loss)."""
        mine = {ex.answer, *ex.tests}
        rebound = set().union(set(), *(b for i, b in binds.items()
                                       if ex.answer < i < before and i not in mine))
        return ([n for n in names[ex.name] if n not in rebound],
                [n for n in names[ex.name] if n in rebound])
    own = {t: ex for ex in plan for t in ex.tests}
    api = f"{_STATE}_api"
    preludes: dict = {}
    broken_for: dict = {}
    restore_next = False
    helpers_sent = False
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        code = []
        if restore_next:
            code.append(f"{api}.restore()")
            restore_next = False
        for ex in plan:
            if ex.answer == i:
                code.append(f"{api}.snapshot({ex.name!r}, {names[ex.name]!r})")
        if i in own:
            mine = own[i]
            earlier = [ex for ex in plan if ex.answer < i and ex is not mine]
            if earlier:
                code.append(f"{api}.start()")
                for ex in earlier:
                    source = student.get(ex.name, "raise NotImplementedError()")
                    reset, keep = breakable(ex, i)
                    code.append(f"{api}.break_({ex.name!r}, {reset!r}, {source!r}, {keep!r})")
                restore_next = True
            broken_for[i] = [ex.name for ex in earlier]
        if code:
            if not helpers_sent:
                code.insert(0, _KERNEL_HELPERS)
                helpers_sent = True
            preludes[id(cell)] = "\n".join(code)

    def hook(cell):
        return preludes.get(id(cell))

    return hook, broken_for


__all__ = ["cell_names", "statements", "Exercise", "exercises", "foreign_reads", "breaking_hook"]
