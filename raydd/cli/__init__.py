"""Command-line interface: each module parses, calls the library, prints."""
