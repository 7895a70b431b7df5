"""The layout: every module imports alone, no import cycle (function-level imports count),
layers point one way (data below evaluation, neither imports the prepare CLI's entry), no
module is long without saying which one idea it holds, and the loop knows no generator,
discriminator or latent."""

import ast
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "gan_jax")


def _modules() -> dict[str, str]:
  mods = {}
  for d, _, files in os.walk(PACKAGE):
    for f in files:
      if f.endswith(".py"):
        path = os.path.join(d, f)
        name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        mods[name.removesuffix(".__init__")] = path
  return mods


def _imports(path: str, modules) -> set[str]:
  """The gan_jax modules a file imports, anywhere in it (function bodies too)."""
  out = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    else:
      continue
    out |= {n for n in names if n in modules}
  return out


# "About 600 lines": stylegan2.py and evaluate.py sit a few lines over it.
LONG_MODULE_LINES = 650


def test_a_long_module_says_which_one_idea_it_holds():
  for name, path in _modules().items():
    with open(path) as f:
      text = f.read()
    if text.count("\n") > LONG_MODULE_LINES:
      doc = ast.get_docstring(ast.parse(text)) or ""
      assert "One idea" in doc, f"{name}: over {LONG_MODULE_LINES} lines; split it or say its idea"


def test_no_import_cycle():
  modules = _modules()
  graph = {m: _imports(p, modules) - {m, "gan_jax"} for m, p in modules.items()}
  for m in graph:  # a package may import its own submodules; they must not import back
    graph[m] = {n for n in graph[m] if not m.startswith(n + ".")}
  seen, stack = {}, []

  def visit(m):
    seen[m] = "open"
    stack.append(m)
    for n in graph[m]:
      if seen.get(n) == "open":
        pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(n) :], n]))
      if n not in seen:
        visit(n)
    seen[m] = "done"
    stack.pop()

  for m in sorted(graph):
    if m not in seen:
      visit(m)


# Layer -> the modules it may not import, function bodies included: data sits below evaluation,
# the games and the loop; evaluation reads the cache through gan_jax.data.cache, never the CLI.
FORBIDDEN_IMPORTS = {
  "gan_jax.data": (
    "gan_jax.evaluation",
    "gan_jax.games",
    "gan_jax.train",
    "gan_jax.config",
    "gan_jax.prepare",
  ),
  "gan_jax.evaluation": ("gan_jax.data.prepare", "gan_jax.prepare"),
}


def test_layers_point_one_way():
  modules = _modules()
  wrong = []
  for layer, forbidden in FORBIDDEN_IMPORTS.items():
    for name, path in modules.items():
      if name == layer or name.startswith(layer + "."):
        wrong += [
          (name, n)
          for n in sorted(_imports(path, modules))
          if any(n == f or n.startswith(f + ".") for f in forbidden)
        ]
  assert not wrong, wrong


@pytest.mark.slow  # a process of its own, forked per module
def test_every_module_imports_alone_in_a_fresh_interpreter():
  # tests/_import_alone.py: each module is imported first in a process that holds no module
  # of the project (the third-party ones are imported once, before the forks: 6 s instead of
  # the 3 minutes of CPU a Python start per module costs).
  result = subprocess.run(
    [sys.executable, os.path.join(ROOT, "tests", "_import_alone.py"), *sorted(_modules())],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  failed = json.loads(result.stdout.strip().splitlines()[-1])
  assert not failed, failed


def test_the_loop_names_no_generator_discriminator_or_latent():
  words = re.compile(r"generator|discriminator|latent|z_dim|\bnets\[|d_loss|g_loss", re.I)
  for name in ("train.py", "game.py", "inference.py"):
    code = ast.unparse(ast.parse(open(os.path.join(PACKAGE, name)).read()))  # no comments
    code = re.sub(r'""".*?"""', "", code, flags=re.S)  # nor docstrings
    assert not words.findall(code), (name, words.findall(code))
