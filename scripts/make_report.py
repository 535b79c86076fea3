from deflow.bench.make_report import main

if __name__ == "__main__":
    main()
