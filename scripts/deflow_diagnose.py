from deflow.bench.deflow_diagnose import main

if __name__ == "__main__":
    main()
