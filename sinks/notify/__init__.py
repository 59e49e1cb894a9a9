"""Alert delivery: the `mercado notify` command, its channels (webhook, Telegram), consumer and delivery log."""
