from deflow.bench.plot_dasr_repr import main

if __name__ == "__main__":
    main()
