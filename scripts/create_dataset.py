from deflow.tools.create_dataset import main

if __name__ == "__main__":
    main()
