from sr.psf.bench import main

if __name__ == "__main__":
    main()
