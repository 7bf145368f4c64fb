"""The README's commands and API snippet stay true."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def test_api_snippet_runs():
    (snippet,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    exec(compile(snippet, "README.md", "exec"), {})


def test_ci_runs_the_readme_install_and_test_commands():
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert len(commands) == 2
    install_and_test = commands[1]
    assert 'pip install -e ".[test]"' in install_and_test and 'pip install -e ".[test]"' in ci
    assert "python -m pytest -q" in install_and_test and "python -m pytest -q" in ci
    assert "experiments/train.py" in commands[0]
