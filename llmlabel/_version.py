"""The package version, in a leaf module so that any module can read it without importing the
package root (which imports the API, and so nearly everything)."""

__version__ = "0.1.0"
