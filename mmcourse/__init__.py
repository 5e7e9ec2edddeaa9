"""mmcourse: a course on cross-modal retrieval."""
__version__ = "0.1.0"
