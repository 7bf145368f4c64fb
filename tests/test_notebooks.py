"""notebooks/*.ipynb run top to bottom (headless, small settings) and draw their figures.

Each notebook is executed by nbclient on an ipykernel kernel of this very Python (a kernel spec
written for the test, so no other Jupyter installation on the machine can be picked), with
``JAXTOPO_NOTEBOOK_SMOKE=1``: tiny images and a few training steps, about a CPU-minute for both.
Cells tagged ``figure`` must produce a PNG. The committed notebooks are checked to be stored
without outputs and to name the repository that the README's Colab badges point at.
"""

import glob
import os
import re
import sys
import tomllib

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook tests need the test extra: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
with open(os.path.join(ROOT, "pyproject.toml"), "rb") as _file:
    REPOSITORY_URL = tomllib.load(_file)["project"]["urls"]["Repository"]  # the one source of truth
KERNEL = "jaxtopo-tests"


def test_there_are_notebooks():
    names = {os.path.basename(path) for path in NOTEBOOKS}
    assert {"quickstart.ipynb", "losses.ipynb"} <= names


@pytest.fixture(scope="module")
def kernel_of_this_python(tmp_path_factory):
    """A kernel spec whose argv is sys.executable, found first through JUPYTER_PATH."""
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    kernelspec.write_kernel_spec(str(jupyter_path / "kernels" / KERNEL), overrides={"display_name": KERNEL})
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(jupyter_path)
    yield KERNEL
    if old is None:
        del os.environ["JUPYTER_PATH"]
    else:
        os.environ["JUPYTER_PATH"] = old


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_top_to_bottom_and_draws_its_figures(path, tmp_path, monkeypatch, kernel_of_this_python):
    monkeypatch.setenv("JAXTOPO_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("JAXTOPO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("JAXTOPO_DATA", str(tmp_path / "no-data"))  # DRIVE is absent: the notebook says so
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend turns figures into PNGs
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    # runs in tmp_path: run folders land there, and jaxtopo is found as installed, not by a relative path
    nbclient.NotebookClient(notebook, kernel_name=kernel_of_this_python, timeout=600,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    kernel_python = notebook.cells[-1].outputs[0]["text"].strip()
    assert os.path.realpath(kernel_python) == os.path.realpath(sys.executable)
    figure_cells = [cell for cell in notebook.cells if "figure" in cell.metadata.get("tags", [])]
    assert figure_cells
    for cell in figure_cells:
        pngs = [out for out in cell.outputs if "image/png" in out.get("data", {})]
        assert pngs, f"this figure cell drew nothing:\n{cell.source}"
    text = "".join(out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", []))
    assert "JAX" in text and "devices:" in text  # it said what it runs on
    if os.path.basename(path) == "quickstart.ipynb":
        assert "DRIVE dataset not found" in text
        assert os.path.isfile(tmp_path / "runs" / "quickstart-synthetic_sat-smoke" / "results.json")
    if os.path.basename(path) == "losses.ipynb":
        assert "all of them are critical pixels: True" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_committed_notebooks_are_stripped_and_point_at_the_repository(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit notebooks without outputs"
    source = "\n".join(cell.source for cell in notebook.cells)
    assert f'REPOSITORY_URL = "{REPOSITORY_URL}"' in source
    github_path = REPOSITORY_URL.removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{github_path}/blob/main/notebooks/{os.path.basename(path)}"
    assert badge in source
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert f"({badge})" in readme
    # nothing downloads data: the only URL fetched is the repository, by the install cell
    assert not re.search(r"urlretrieve|requests\.get|wget |curl |gdown|tfds\.load|load_dataset\(", source)


def _install_cell(path):
    notebook = nbformat.read(path, as_version=4)
    cells = [cell.source for cell in notebook.cells if "def jaxtopo_source" in cell.source]
    assert len(cells) == 1, f"{path}: expected one install cell"
    return cells[0]


def test_notebooks_share_one_install_cell():
    assert len({_install_cell(path) for path in NOTEBOOKS}) == 1


def test_install_cell_prefers_a_local_wheel_or_checkout_over_a_clone(tmp_path, monkeypatch):
    """The install cell's choice of what to pip-install (its install step itself is skipped here:
    jaxtopo is importable)."""
    namespace = {}
    exec(_install_cell(NOTEBOOKS[0]), namespace)
    clones = []
    namespace["subprocess"] = type("FakeSubprocess", (), {"run": staticmethod(lambda args, **_: clones.append(args))})
    source = namespace["jaxtopo_source"]
    monkeypatch.delenv("JAXTOPO_INSTALL", raising=False)

    # a checkout: the notebook runs in <checkout>/notebooks
    checkout = tmp_path / "checkout"
    (checkout / "jaxtopo").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'jaxtopo'\n")
    (checkout / "notebooks").mkdir()
    monkeypatch.chdir(checkout / "notebooks")
    assert source() == str(checkout)
    # a wheel next to the notebook wins over the checkout; the newest of several
    old, new = checkout / "notebooks" / "jaxtopo-0.1.0-a.whl", checkout / "notebooks" / "jaxtopo-0.1.0-b.whl"
    new.write_text("")
    old.write_text("")
    os.utime(old, (1, 1))
    assert source() == str(new)
    # an explicit choice wins over both
    monkeypatch.setenv("JAXTOPO_INSTALL", "../dist/jaxtopo.whl")
    assert source() == str(checkout / "dist" / "jaxtopo.whl")
    assert clones == []
    # nothing local (Colab): a clone of the repository
    monkeypatch.delenv("JAXTOPO_INSTALL")
    empty = tmp_path / "colab"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert source() == str(empty / "jaxtopo-repository")
    assert clones == [["git", "clone", "--depth", "1", namespace["REPOSITORY_URL"], "jaxtopo-repository"]]
