import sys

from deflow.bench.fault_suite import main

if __name__ == "__main__":
    sys.exit(main())
