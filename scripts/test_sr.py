from deflow.tools.test_sr import main

if __name__ == "__main__":
    main()
