"""The transfer pipeline and the manifest (arrives with the copy engine)."""
