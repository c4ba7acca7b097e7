"""Every HDF5 read and write: run files, genome files, replay files.

One module per file kind: ``run_write`` / ``run_read`` (RUN_DIR/run.h5), ``genome``
(genomes/*.h5), ``replay`` (replays/*.h5); ``common`` holds the shared conventions.
"""
