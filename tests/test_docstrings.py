"""Docstring conventions of the ``mmdret`` package (Google / mmengine style ``Args:``).

Checked statically with :mod:`ast`, so nothing of the package is imported:

* every public top-level function taking parameters documents them in an ``Args:`` section;
* every public top-level class whose ``__init__`` takes parameters has ``Args:`` in its class
  docstring or in its ``__init__`` docstring;
* every public method of a public class that has a docstring and takes parameters has
  ``Args:``;
* every ``Args:`` section lists each parameter of its function (for a class docstring: of its
  ``__init__``) on a line of the form ``name (type): ...``, ``*name (...)`` or
  ``**name (...)``.

``self`` and ``cls`` are not parameters here.
"""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'mmdret'
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
ENTRY = re.compile(r'\*{0,2}(\w+) \(')


def parameters(function):
    """Parameter names of a function definition, without ``self`` and ``cls``."""
    args = function.args
    names = [arg.arg for arg in args.posonlyargs + args.args + args.kwonlyargs]
    if args.vararg:
        names.append(args.vararg.arg)
    if args.kwarg:
        names.append(args.kwarg.arg)
    return [name for name in names if name not in ('self', 'cls')]


def has_args(node):
    docstring = ast.get_docstring(node)
    return bool(docstring) and 'Args:' in docstring


def documented_names(docstring):
    """Names listed in the ``Args:`` sections of a docstring, or None without one."""
    lines = docstring.splitlines()
    names, found = set(), False
    for number, line in enumerate(lines):
        if line.strip() != 'Args:':
            continue
        found = True
        section_indent = len(line) - len(line.lstrip())
        entry_indent = None
        for entry in lines[number + 1:]:
            if not entry.strip():
                continue
            indent = len(entry) - len(entry.lstrip())
            if indent <= section_indent:
                break
            if entry_indent is None:
                entry_indent = indent
            if indent == entry_indent:
                match = ENTRY.match(entry.strip())
                if match:
                    names.add(match.group(1))
    return names if found else None


def init_of(cls):
    return next((node for node in cls.body
                 if isinstance(node, FUNCTIONS) and node.name == '__init__'), None)


def modules():
    for path in sorted(PACKAGE.rglob('*.py')):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding='utf-8'))


def missing_args_sections():
    violations = []
    for path, tree in modules():
        for node in tree.body:
            if not isinstance(node, (*FUNCTIONS, ast.ClassDef)) or node.name.startswith('_'):
                continue
            if isinstance(node, FUNCTIONS):
                if parameters(node) and not has_args(node):
                    violations.append(f'{path}:{node.lineno} {node.name}')
            elif isinstance(node, ast.ClassDef):
                init = init_of(node)
                if (init is not None and parameters(init)
                        and not (has_args(node) or has_args(init))):
                    violations.append(f'{path}:{node.lineno} {node.name}')
                for method in node.body:
                    if (isinstance(method, FUNCTIONS) and not method.name.startswith('_')
                            and parameters(method) and ast.get_docstring(method)
                            and not has_args(method)):
                        violations.append(f'{path}:{method.lineno} {node.name}.{method.name}')
    return violations


def undocumented_parameters():
    violations = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, FUNCTIONS):
                function, name = node, node.name
            elif isinstance(node, ast.ClassDef):
                function, name = init_of(node), node.name
                if function is None:
                    continue
            else:
                continue
            docstring = ast.get_docstring(node)
            documented = documented_names(docstring) if docstring else None
            if documented is None:
                continue
            for parameter in parameters(function):
                if parameter not in documented:
                    violations.append(f'{path}:{node.lineno} {name} ({parameter})')
    return violations


def test_public_callables_have_args_sections():
    violations = missing_args_sections()
    assert not violations, ('no Args: section in the docstring of:\n' + '\n'.join(violations))


def test_args_sections_name_every_parameter():
    violations = undocumented_parameters()
    assert not violations, ('parameter missing from the Args: section (path:line name '
                            '(parameter)):\n' + '\n'.join(violations))
