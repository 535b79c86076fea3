from deflow.tools.net_interp import main

if __name__ == "__main__":
    main()
