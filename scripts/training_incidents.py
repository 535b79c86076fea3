from deflow.bench.incidents import main

if __name__ == "__main__":
    main()
