"""Write the bad-input corpus (deflow/tools/bad_inputs.py): see `python scripts/make_bad_inputs.py --help`."""
from deflow.tools.bad_inputs import main

if __name__ == "__main__":
    main()
