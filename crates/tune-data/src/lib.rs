//! Data sets: IDX files, the known data sets with their checksums, look-up and download.
