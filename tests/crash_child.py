"""Child process for the crash tests: ingest files, printing progress so the parent knows when to kill."""

import sys

from rag.ingest.sources import Progress
from rag.library import Library
from rag.settings import Settings


class Printer(Progress):
    # One line per batch, printed when the batch is handed to the writer thread, not when it is stored.
    def chunks_done(self, name: str, n: int) -> None:
        print(f"chunks {name} {n}", flush=True)

    def file_finished(self, result) -> None:
        print(f"finished {result.file_name} {result.status}", flush=True)


if __name__ == "__main__":
    lib = Library(Settings.from_env())
    lib.ingest(sys.argv[1:], progress=Printer())
    lib.close()
    print("done", flush=True)
