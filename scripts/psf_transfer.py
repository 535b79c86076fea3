from deflow.psf.cli import main

if __name__ == "__main__":
    main()
