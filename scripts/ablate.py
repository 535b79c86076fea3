from deflow.bench.ablate import main

if __name__ == "__main__":
    main()
