"""``python -m server``: the same command as ``myrtle-wyckoff``."""

from server.cli import main

if __name__ == "__main__":
    main()
