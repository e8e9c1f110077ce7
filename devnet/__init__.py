"""The local devnet behind `make run`: the exchange server plus demo bots (see __main__)."""
