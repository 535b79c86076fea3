"""Write degraded copies of a folder of images: see `python scripts/degrade.py --help`."""
from degradations.cli import main

if __name__ == "__main__":
    main()
