"""bucketshift: move an application's object storage between Supabase Storage and S3."""

__version__ = "0.1.0"

__all__ = ["__version__"]
