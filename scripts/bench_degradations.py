"""Time a degradation pipeline (default realesrgan) on 16 crops of 256x256: crops per second, median."""
from degradations.bench import main

if __name__ == "__main__":
    main()
