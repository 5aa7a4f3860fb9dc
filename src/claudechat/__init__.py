"""claudechat: long, multi-turn conversations with Claude."""
