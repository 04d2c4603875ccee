"""Types where contracts live (STYLE.md): every public function and method of the modules
that `make test` runs mypy on ([tool.mypy] files in pyproject.toml) is fully annotated, so
mypy checks its callers and its body."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checked_modules():
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    for name in files:
        path = ROOT / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def public_functions(tree):
    """Module-level functions and methods of module-level classes whose name is public."""
    for node in tree.body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        for member in members:
            if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and not member.name.startswith("_"):
                yield member


def unannotated(function):
    args = function.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    params = [param for param in params if param.arg not in ("self", "cls")]
    params += [param for param in (args.vararg, args.kwarg) if param is not None]
    missing = [param.arg for param in params if param.annotation is None]
    return missing + (["return"] if function.returns is None else [])


def test_the_checked_modules_exist():
    modules = [path.relative_to(ROOT).as_posix() for path in checked_modules()]
    assert "rewards/ledger.py" in modules
    assert "engagement/partner_api/idempotency.py" in modules
    assert all((ROOT / module).is_file() for module in modules)


def test_every_public_function_of_the_checked_modules_is_annotated():
    missing = {
        f"{path.relative_to(ROOT).as_posix()}:{function.lineno} {function.name}": gaps
        for path in checked_modules()
        for function in public_functions(ast.parse(path.read_text()))
        if (gaps := unannotated(function))
    }
    assert missing == {}
