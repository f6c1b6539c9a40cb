"""Market-data feeds: a provider's price endpoint fetched over HTTP into the index store."""
