from deflow.tools.deflow_check import main

if __name__ == "__main__":
    main()
