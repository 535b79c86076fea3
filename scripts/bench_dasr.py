from deflow.bench.bench_dasr import main

if __name__ == "__main__":
    main()
