"""The README's commands and API snippet stay true."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def test_api_snippet_computes_bce_plus_sat_loss(capsys):
    """The snippet's value is BCE + 1e-3 SATLoss computed independently (numpy's stable BCE of
    logits, the gudhi + POT SATLoss reference), and its gradient is the BCE gradient except on
    the critical pixels of the likelihood's diagrams, where SATLoss adds its part."""
    import jax
    import numpy as np

    from reference_satloss import reference_pairs, reference_sat_loss

    (snippet,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    scope = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    logits = np.asarray(scope["logits"], np.float64)
    labels = np.asarray(scope["labels"], np.float64)
    value, grads = float(scope["value"]), np.asarray(scope["grads"], np.float64)
    assert str(capsys.readouterr().out).startswith(str(scope["value"]))  # it printed the value

    # BCE with logits per pixel: max(x, 0) - x t + log(1 + exp(-|x|)); mean over pixels and batch
    bce = np.mean(np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits))))
    probs = np.asarray(jax.jit(jax.nn.sigmoid)(scope["logits"]), np.float64)  # as the snippet rounds them
    sat = np.mean([reference_sat_loss(p, t, pad=True) for p, t in zip(probs, labels)])
    assert value == pytest.approx(bce + 1e-3 * sat, rel=1e-5)
    assert 1e-3 * sat > 1e-4 * value  # the SATLoss term is visible at this tolerance

    bce_grad = (1 / (1 + np.exp(-logits)) - labels) / labels.size
    for b in range(len(probs)):
        padded = np.pad(probs[b], 1, constant_values=1.0)
        critical = np.zeros(padded.shape, bool)
        for creators, destroyers in reference_pairs(1.0 - padded).values():
            critical[tuple(np.concatenate([creators, destroyers]).T)] = True
        critical = critical[1:-1, 1:-1]
        np.testing.assert_allclose(grads[b][~critical], bce_grad[b][~critical], rtol=1e-4, atol=1e-10)
        assert np.abs(grads[b] - bce_grad[b])[critical].max() > 1e-6  # SATLoss moves some of them


def test_ci_runs_the_readme_install_and_test_commands():
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert len(commands) == 2
    install_and_test = commands[1]
    assert 'pip install -e ".[test]"' in install_and_test and 'pip install -e ".[test]"' in ci
    assert "python -m pytest -q" in install_and_test and "python -m pytest -q" in ci
    assert "experiments/train.py" in commands[0]
