from deflow.tools.sample_photos import main

if __name__ == "__main__":
    main()
