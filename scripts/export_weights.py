from deflow.tools.export_weights import main

if __name__ == "__main__":
    main()
