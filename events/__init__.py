"""The log: envelope, canonical encoding, hash chain, producer, consumers, topic bootstrap,
dead-letter routing and the Parquet archive of the log."""
