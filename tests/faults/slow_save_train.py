"""`python -m tests.faults.slow_save_train ...`: `python -m deflow.train ...` whose save of the checkpoint named in
$DEFLOW_SLOW_SAVE is written in slow chunks, its name written to $DEFLOW_SLOW_SAVE_MARKER when the first chunk is on
disk: a test can kill the process in the middle of that write."""
import io
import os
import time
from pathlib import Path

from deflow import checkpoint
from deflow.train import main

atomic = checkpoint.write_atomic


def slow_write_atomic(path: Path, write) -> None:
    if path.name != os.environ.get("DEFLOW_SLOW_SAVE"):
        return atomic(path, write)

    def in_chunks(file):
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
        step = len(data) // 10 + 1
        for start in range(0, len(data), step):
            file.write(data[start:start + step])
            file.flush()
            if start == 0:
                Path(os.environ["DEFLOW_SLOW_SAVE_MARKER"]).write_text(path.name)
            time.sleep(0.2)
    return atomic(path, in_chunks)


if __name__ == "__main__":
    checkpoint.write_atomic = slow_write_atomic
    main()
