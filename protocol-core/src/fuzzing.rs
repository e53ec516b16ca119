//! Entry points for the fuzz targets and the property tests. Not a stable API.
