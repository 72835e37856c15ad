"""Where the checkout is: `REPO_ROOT`, the directory that holds kernels/, contracts/, models/ and deploy/ beside the
package (the package runs from its source tree: `pip install -e .`)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
