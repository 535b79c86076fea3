from deflow.bench.deflow_check import main

if __name__ == "__main__":
    main()
