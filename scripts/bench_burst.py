from sr.multiframe.bench import main

if __name__ == "__main__":
    main()
