"""``python -m claudechat``: the command line."""

from claudechat.cli import main

if __name__ == "__main__":
    main()
