"""Build DeFlow's multi-scale training folders; see deflow/tools/create_dataset.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deflow.tools.create_dataset import main  # noqa: E402

if __name__ == "__main__":
    main()
