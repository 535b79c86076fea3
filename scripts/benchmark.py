from deflow.tools.benchmark import main

if __name__ == "__main__":
    main()
