"""The layout of gan/ (docs/index.md, "A reading order"): rooms that import only from the
floors below them, so no import cycle anywhere; no import inside a function to dodge one;
files small enough to read whole."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAN = ROOT / "gan"
MAX_LINES = 350


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def gan_imports(path):
    """(gan modules imported at module level, gan modules imported inside functions)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    top, inner = set(), set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested = {id(node) for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(function)}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        found = {name for name in names if name.split(".")[0] == "gan" and name in MODULES}
        (inner if id(node) in nested else top).update(found)
    return top, inner


MODULES = {module_name(path): path for path in GAN.rglob("*.py")}


def test_no_import_cycle_in_gan():
    graph = {name: gan_imports(path)[0] - {name} for name, path in MODULES.items()}
    state = {}

    def visit(name, stack):
        state[name] = "open"
        for imported in sorted(graph[name]):
            if state.get(imported) == "open":
                cycle = stack[stack.index(imported):] + [imported]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if imported not in state:
                visit(imported, stack + [imported])
        state[name] = "done"
    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_gan_module_is_imported_inside_a_function():
    inner = {name: sorted(gan_imports(path)[1]) for name, path in MODULES.items() if gan_imports(path)[1]}
    assert not inner, f"imports inside functions: {inner}"


def test_no_file_in_gan_is_over_350_lines():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"
