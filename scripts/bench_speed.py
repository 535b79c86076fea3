from deflow.bench.bench_speed import main

if __name__ == "__main__":
    main()
