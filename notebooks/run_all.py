"""Executes every notebook in this folder (nbclient) and fails when a cell
fails. Outputs are not written back: the notebooks stay stripped in git.
Usage: python notebooks/run_all.py [NOTEBOOK...]"""
import pathlib, sys, time
import nbformat
from nbclient import NotebookClient

here = pathlib.Path(__file__).resolve().parent
paths = [pathlib.Path(p) for p in sys.argv[1:]] or sorted(here.glob("*.ipynb"))
if not paths:
    sys.exit("no notebooks found in " + str(here))
for path in paths:
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(here)}}).execute()
    except Exception as e:  # a failing cell: name the notebook, show the error
        sys.exit(f"{path}: a cell failed:\n{e}")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("name") == "stdout":
                sys.stdout.write(out["text"])
    print(f"{path.name}: executed in {time.time() - start:.1f} s")
