"""Executes notebooks headless with nbclient and writes the executed copies
to an output folder; exits non-zero when any cell fails.

Usage: execute.py OUT_DIR NOTEBOOK.ipynb [...]
"""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
failed = []
for name in sys.argv[2:]:
    path = Path(name)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        client.execute()
        print(f"ok: {path}")
    except CellExecutionError as e:
        failed.append(path)
        print(f"FAILED: {path}\n{str(e)[:2000]}", file=sys.stderr)
    nbformat.write(nb, out / path.name)
sys.exit(1 if failed else 0)
