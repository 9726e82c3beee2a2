"""``modal.volume``: public names of this Modal submodule."""

from pcompile._volume import CloudBucketMount, FileEntry, FileEntryType, NetworkFileSystem, Volume

__all__ = ["CloudBucketMount", "FileEntry", "FileEntryType", "NetworkFileSystem", "Volume"]
